r"""`TransformersBackend`: any local Hugging Face causal LM (CPU or GPU) as a :class:`~llm_bridge.protocols.Backend`.

Generation is a hand-written, batched sampling loop over the model's forward pass
(not ``model.generate``), because particle methods need three things ``generate``
does not give together:

1. **Shared-prefix KV reuse.**  The rows of a call (``len(prompts) * n`` particles)
   usually share a long prefix (system prompt, problem, common steps).  The longest
   common *token* prefix is run once at batch size 1; its key/value cache is then
   repeated over the rows and only each row's own suffix is prefilled.  Rows are laid
   out as ``[shared prefix][padding][own suffix]`` with an attention mask that hides
   the padding and explicit ``position_ids`` (``cumsum(mask) - 1``), so every row sees
   exactly the positions it would see alone (left padding is the special case of an
   empty shared prefix).
2. **Log-probabilities under the unmodified model** (temperature 1, no top-p) for
   every sampled token, whatever temperature/top-p the sampler used; rows that finished
   are dropped from the batch (their cache rows removed), so nothing after a stop
   string or EOS is computed or counted.
3. **Stop strings** checked on the decoded text of each row (a stop string may span
   several tokens, or end inside one); the returned ``text`` is cut before it.

Per :mod:`llm_bridge.protocols`: ``token_ids``/``num_tokens``/``logprob`` cover every
sampled token, *including* the token(s) that produced the stop string and the EOS token
(the model's probability of ending), while ``text`` excludes both.
``meta["token_logprobs"]`` holds the per-token values and ``meta["stop"]`` the matched
stop string.

Scoring (:meth:`TransformersBackend.score`) is one teacher-forced forward pass per
batch, gathering the continuation's token log-probabilities with
:func:`probinf.kernels.token_logprobs` (no V-wide log-softmax).  The continuation is tokenized
on its own and appended to the prompt's tokens, so a text that the model generated
with the same tokenization scores exactly its generation log-probability;
:meth:`TransformersBackend.score_ids` scores given token ids.

Randomness: ``seed`` seeds a private ``torch.Generator`` (global RNG untouched): the
same call with the same seed returns the same generations.  ``seed=None`` draws fresh
randomness.
"""

from __future__ import annotations

import inspect
import math
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llm_bridge.backends._decode import DecodeLoop
from llm_bridge.backends.gguf import load_gguf_as_transformers
from llm_bridge.backends.gguf import require_torch as _require_torch
from llm_bridge.contracts import (
    Generation,
    check_generate_args,
    check_prompts,
    check_score_args,
)

__all__ = ["TransformersBackend", "load_gguf_as_transformers"]


class TransformersBackend(DecodeLoop):
    r"""A local HF causal LM behind the :class:`~llm_bridge.protocols.Backend` protocol.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM (``AutoModelForCausalLM``); put in eval mode.
    tokenizer : transformers tokenizer
        Its tokenizer; needs an EOS token (used as padding if there is no pad token).
    device : str or torch.device, optional
        Where to run; default the model's device.
    batch_size : int
        Maximum rows (particles) per forward pass; larger calls are processed in chunks.
    share_prefix : bool
        Reuse the KV cache of the rows' longest common token prefix (see module docs).
    add_special_tokens : bool or "auto"
        Whether encoding a prompt adds the tokenizer's special tokens (BOS).  ``"auto"``:
        yes, unless the prompt already starts with the BOS token's text (chat templates
        often write it).

    Attributes
    ----------
    stats : dict
        Counters: ``forward_calls``, ``generated_tokens``, ``prefill_tokens`` (prompt
        tokens actually run), ``prefix_tokens_reused`` (prompt tokens served from the
        shared-prefix cache), ``scored_tokens``.

    Examples
    --------
    >>> from llm_bridge.backends import TransformersBackend
    >>> from llm_bridge.toy import toy_model_path
    >>> be = TransformersBackend.from_pretrained(toy_model_path())
    >>> [[g]] = be.generate(["12 +5\n"], max_tokens=20, temperature=0.0, stop=["\n"])
    >>> g.text, g.finish_reason
    ('12+5=17', 'stop')
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        device=None,
        batch_size: int = 64,
        share_prefix: bool = True,
        add_special_tokens: bool | str = "auto",
    ):
        _require_torch()
        import torch

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if add_special_tokens not in (True, False, "auto"):
            raise ValueError(f"add_special_tokens must be True, False or 'auto', got {add_special_tokens!r}")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token; set tokenizer.eos_token before building the backend")
        self.model = model
        self.tokenizer = tokenizer
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if device is not None:
            self.model.to(self.device)
        self.model.eval()
        self.batch_size = batch_size
        self.share_prefix = share_prefix
        self.add_special_tokens = add_special_tokens
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_token_ids = self._eos_ids()
        self.max_length = getattr(model.config, "max_position_embeddings", None)
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.stats = dict(forward_calls=0, generated_tokens=0, prefill_tokens=0, prefix_tokens_reused=0,
                          scored_tokens=0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype=None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> TransformersBackend:
        """Load a local ``save_pretrained`` folder (or a GGUF file inside it) offline.

        Parameters
        ----------
        path : str or Path
            A folder with ``config.json`` + weights + tokenizer files.
        gguf_file : str, optional
            A GGUF file name inside ``path`` (dequantized on load; slow).
        device : str, optional
            ``"cpu"``, ``"cuda"``, ...; default CUDA when available, else CPU.
        dtype : torch.dtype or str, optional
            Weights' dtype (e.g. ``"bfloat16"`` on GPU); default float32.
        num_threads : int, optional
            ``torch.set_num_threads`` for CPU runs.
        **kwargs
            Passed to :class:`TransformersBackend`.
        """
        _require_torch()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model path {path} does not exist")
        if num_threads:
            torch.set_num_threads(num_threads)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tok = AutoTokenizer.from_pretrained(path, **extra)
        model_kw = dict(extra)
        if dtype is not None:
            model_kw["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        model = AutoModelForCausalLM.from_pretrained(path, **model_kw)
        return cls(model, tok, device=device, **kwargs)

    def _eos_ids(self) -> frozenset[int]:
        ids = {self.tokenizer.eos_token_id}
        gen_cfg = getattr(self.model, "generation_config", None)
        extra = getattr(gen_cfg, "eos_token_id", None) if gen_cfg is not None else None
        if extra is not None:
            ids.update(extra if isinstance(extra, (list, tuple)) else [extra])
        return frozenset(int(i) for i in ids if i is not None)

    # ------------------------------------------------------------------ text helpers
    def encode(self, prompt: str) -> list[int]:
        """The prompt's token ids as the backend feeds them (special tokens per ``add_special_tokens``)."""
        add = self.add_special_tokens
        if add == "auto":
            bos = self.tokenizer.bos_token
            add = not (bos and prompt.startswith(bos))
        return list(self.tokenizer(prompt, add_special_tokens=add)["input_ids"])

    def _encode_continuation(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def chat_prompt(
        self,
        messages: Sequence[dict],
        *,
        continue_final_message: bool = False,
        add_generation_prompt: bool | None = None,
    ) -> str:
        """Render chat ``messages`` with the tokenizer's chat template into a prompt string.

        With ``continue_final_message=True`` the last (assistant) message is left open so
        generation continues it (the partial answer of a particle); otherwise a new
        assistant turn is opened (``add_generation_prompt`` defaults to the opposite of
        ``continue_final_message``).
        """
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError("this tokenizer has no chat_template; pass raw prompt strings instead")
        if add_generation_prompt is None:
            add_generation_prompt = not continue_final_message
        return self.tokenizer.apply_chat_template(
            list(messages),
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message,
        )

    # ------------------------------------------------------------------ model calls
    def _new_cache(self):
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # transformers < 4.56
            return DynamicCache()

    def _forward(self, ids, mask, pos, cache, logits_to_keep: int = 1):
        import torch

        self.stats["forward_calls"] += 1
        kw = {self._cache_kw: cache, "use_cache": cache is not None}
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=logits_to_keep, **kw)
        return out.logits

    # ------------------------------------------------------------------ generate
    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Generation]]:
        """Sample ``n`` continuations of every prompt (see :class:`~llm_bridge.protocols.Backend`)."""
        import torch

        prompts = check_prompts(prompts)
        n, max_tokens, temperature, top_p, stop, seed = check_generate_args(
            n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
        )
        encoded = [self.encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            if len(ids) == 0:
                raise ValueError(f"prompts[{i}] encodes to no tokens")
            if self.max_length is not None and len(ids) >= self.max_length:
                raise ValueError(
                    f"prompts[{i}] has {len(ids)} tokens, the model's context is {self.max_length}; shorten the prompt"
                )
        rows = [(i, ids) for i, ids in enumerate(encoded) for _ in range(n)]
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else secrets.randbits(63))
        shared = None
        if self.share_prefix and len(rows) > self.batch_size:
            # several chunks: run the call-wide common prefix once and let every chunk copy it
            g_lcp = self._common_prefix_len([ids for _, ids in rows])
            if g_lcp > 0:
                shared = (g_lcp, self._run_prefix(rows[0][1][:g_lcp], 0, self._new_cache()))
        prefill_before = self.stats["prefill_tokens"]
        results: list[Generation] = []
        for start in range(0, len(rows), self.batch_size):
            chunk = [ids for _, ids in rows[start : start + self.batch_size]]
            results.extend(self._generate_chunk(chunk, max_tokens, temperature, top_p, stop, gen, shared))
        run = self.stats["prefill_tokens"] - prefill_before
        self.stats["prefix_tokens_reused"] += sum(len(ids) for _, ids in rows) - run
        out: list[list[Generation]] = [[] for _ in prompts]
        for (i, _), g in zip(rows, results, strict=True):
            out[i].append(g)
        return out

    # ------------------------------------------------------------------ score
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        """``log p(continuation | prompt)`` summed over the continuation's tokens (teacher forcing).

        An empty continuation scores 0.
        """
        return [float(math.fsum(t)) for t in self.score_tokens(prompts, continuations)]

    def score_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[list[float]]:
        """Per-token log-probabilities of each continuation (lists of floats, possibly empty)."""
        prompts, conts = check_score_args(prompts, continuations)
        ids = self.score_ids([self.encode(p) for p in prompts], [self._encode_continuation(c) for c in conts])
        return [row.tolist() for row in ids]

    def score_ids(self, prompt_ids: Sequence[Sequence[int]],
                  continuation_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-token log-probabilities of given continuation token ids after given prompt token ids."""
        import torch

        from probinf.kernels.token_logprobs import token_logprobs

        if len(prompt_ids) != len(continuation_ids):
            raise ValueError(
                f"prompt_ids and continuation_ids must have the same length, got {len(prompt_ids)} and "
                f"{len(continuation_ids)}"
            )
        V = self.model.config.vocab_size
        rows = []
        for i, (p, c) in enumerate(zip(prompt_ids, continuation_ids, strict=True)):
            p, c = [int(t) for t in p], [int(t) for t in c]
            if not p:
                raise ValueError(f"prompt_ids[{i}] is empty; a continuation needs a non-empty context")
            if any(t < 0 or t >= V for t in p + c):
                raise ValueError(f"row {i} holds token ids outside [0, {V})")
            if self.max_length is not None and len(p) + len(c) > self.max_length:
                raise ValueError(f"row {i} has {len(p) + len(c)} tokens, the model's context is {self.max_length}")
            rows.append((p, c))
        out: list[np.ndarray] = [np.zeros(0)] * len(rows)
        todo = [i for i, (_, c) in enumerate(rows) if c]
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            full = [rows[i][0] + rows[i][1] for i in idx]
            width = max(len(f) for f in full)
            keep = max(len(rows[i][1]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_token_id, dtype=torch.long, device=self.device)
            mask = torch.zeros_like(ids)
            for j, f in enumerate(full):
                ids[j, width - len(f) :] = torch.tensor(f, device=self.device)
                mask[j, width - len(f) :] = 1
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            # logits at positions width-1-keep .. width-2 predict the last `keep` tokens
            logits = self._forward(ids, mask, pos, None, logits_to_keep=keep + 1)[:, :-1, :]
            targets = ids[:, width - keep :]
            scores: Any = token_logprobs(logits, targets)  # a torch tensor for torch logits
            lp = scores.double().cpu().numpy()
            for j, i in enumerate(idx):
                n_cont = len(rows[i][1])
                out[i] = lp[j, keep - n_cont :]
            self.stats["scored_tokens"] += sum(len(rows[i][1]) for i in idx)
        return out

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return f"TransformersBackend({name!r}, device={str(self.device)!r}, batch_size={self.batch_size})"

