r"""Process reward models (PRMs) behind :class:`~llm_bridge.protocols.RewardModel`.

Every class maps ``score_steps(questions, steps)`` -- a batch of partial answers, each a
list of step strings -- to one probability in ``[0, 1]`` per step ("is the answer still on
track after this step?").  All validate their own output: NaN, values outside ``[0, 1]``
or a wrong number of scores raise :class:`~llm_bridge.exceptions.InvalidRewardError`.

=======================  =================================================================
:class:`TransformersPRM`  a local HF PRM in the Qwen2.5-Math-PRM style: steps joined by a
                          separator token, positive-class probability read at every
                          separator (token classifier, or an LM's two label tokens)
:class:`EndpointPRM`      the same, served by vLLM's ``/pooling`` endpoint (or any server
                          answering per-separator scores)
:class:`LLMJudgePRM`      an LLM as judge: ``P("Yes") / (P("Yes") + P("No"))`` after a
                          question about each step, via ``Backend.score``
:class:`SelfCertaintyPRM` no PRM: the policy's own geometric-mean token probability of each
                          step, ``exp(mean log p)``, via ``Backend.score_tokens``
:class:`VerifierPRM`      a programmatic checker ``check(question, previous_steps, step)``
:class:`ToyStepVerifier`  the exact toy-task step checker with a set false-positive (and
                          false-negative) rate, deterministic per seed
=======================  =================================================================

:func:`llm_bridge.toy.prm.evaluate_prm` measures any of them on the toy task (step AUROC).

Aggregating step scores into one reward per partial answer (prod, min, last, model, ...)
is :mod:`llm_bridge.aggregation`'s job; ``"model"`` aggregation passes the joined answer as
a single step to ``score_steps``.

Repeated prefixes are cheap: the judge, self-certainty and verifier PRMs memoise the score
of each ``(question, steps[:t+1])`` (bounded LRU), so re-scoring a particle's earlier steps
at every step of particle filtering costs nothing.

Example
-------
>>> from llm_bridge.rewards import ToyStepVerifier
>>> prm = ToyStepVerifier(false_positive_rate=0.0)
>>> prm.score_steps(["12 +5 -3\n"], [["12+5=17", "17-3=15"]])
[[0.95, 0.05]]
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from llm_bridge.contracts import check_score_steps_args, check_step_scores, check_token_scores, check_token_scoring_backend
from llm_bridge.exceptions import InvalidRewardError, MalformedOutputError

__all__ = [
    "check_step_scores",
    "TransformersPRM",
    "EndpointPRM",
    "LLMJudgePRM",
    "SelfCertaintyPRM",
    "VerifierPRM",
    "ToyStepVerifier",
    "QWEN_PRM_SYSTEM_PROMPT",
]

#: The system prompt Qwen2.5-Math-PRM was trained with.
QWEN_PRM_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


class _PrefixMemo:
    """A bounded LRU of per-prefix scores keyed by ``(question, steps[:t+1])``."""

    def __init__(self, maxsize: int):
        self.maxsize = int(maxsize)
        self._d: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        if key in self._d:
            self._d.move_to_end(key)
            self.hits += 1
            return self._d[key]
        self.misses += 1
        return None

    def put(self, key, value):
        if self.maxsize <= 0:
            return
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)


class _PerStepPRM:
    """Base of PRMs that score each step on its own (memoised): subclasses implement ``_score_new``."""

    name = "PRM"

    def __init__(self, cache_size: int = 100_000):
        self._memo = _PrefixMemo(cache_size)

    def _score_new(self, items: list[tuple[str, tuple[str, ...]]]) -> list[float]:
        """Scores of the last step of each ``(question, steps_prefix)`` (non-empty prefixes)."""
        raise NotImplementedError

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """One probability per step of each partial answer (see :class:`~llm_bridge.protocols.RewardModel`)."""
        qs, st = check_score_steps_args(questions, steps)
        keys = [[(q, tuple(s[: t + 1])) for t in range(len(s))] for q, s in zip(qs, st)]
        values: dict = {}
        todo = []
        for row in keys:
            for k in row:
                if k in values:
                    continue
                v = self._memo.get(k)
                if v is None:
                    values[k] = None
                    todo.append(k)
                else:
                    values[k] = v
        if todo:
            vals = self._score_new(todo)
            if len(vals) != len(todo):
                raise InvalidRewardError(f"{self.name} produced {len(vals)} scores for {len(todo)} steps")
            for k, v in zip(todo, vals):
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise InvalidRewardError(f"{self.name} produced a non-numeric score {v!r}") from None
                if not (0.0 <= v <= 1.0):  # also rejects NaN
                    raise InvalidRewardError(
                        f"{self.name} produced {v!r} for step {len(k[1]) - 1} ({k[1][-1][:60]!r}); expected a probability in [0, 1]"
                    )
                values[k] = v
                self._memo.put(k, v)
        out = [[values[k] for k in row] for row in keys]
        return check_step_scores(out, st, self.name)


# ---------------------------------------------------------------------------- transformers PRM
class TransformersPRM:
    r"""A local HF process reward model in the Qwen2.5-Math-PRM style.

    Each partial answer is rendered as (by default with the tokenizer's chat template)::

        system: QWEN_PRM_SYSTEM_PROMPT
        user:   question
        assistant: step_1 <sep> step_2 <sep> ... step_T <sep>

    and one forward pass yields, at every separator token, the probability of the
    positive class:

    - ``head="classifier"`` (Qwen2.5-Math-PRM, token classifiers): the model returns
      per-token logits ``(B, L, num_labels)``; score = ``softmax(logits)[positive_label]``;
    - ``head="lm"`` (Math-Shepherd style): a causal LM; score = ``softmax`` over the two
      ``label_token_ids = (negative, positive)`` of the next-token logits at the separator.

    Parameters
    ----------
    model, tokenizer
        The PRM and its tokenizer; ``step_token`` must be a single token of it.
    step_token : str
        The separator (``"<extra_0>"`` for Qwen2.5-Math-PRM).
    head : {"classifier", "lm"}
    positive_label : int
        Index of the positive class (classifier head).
    label_token_ids : (int, int), optional
        ``(negative, positive)`` token ids (lm head).
    system_prompt : str or None
        ``None`` for no system message.
    use_chat_template : bool
        Render with the chat template; otherwise ``question + "\n" + steps...`` (the toy PRM).
    batch_size : int
        Answers per forward pass.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        step_token: str = "<extra_0>",
        head: str = "classifier",
        positive_label: int = 1,
        label_token_ids: tuple[int, int] | None = None,
        system_prompt: str | None = QWEN_PRM_SYSTEM_PROMPT,
        use_chat_template: bool = True,
        batch_size: int = 16,
        device=None,
    ):
        import torch

        if head not in ("classifier", "lm"):
            raise ValueError(f"head must be 'classifier' or 'lm', got {head!r}")
        if head == "lm" and (label_token_ids is None or len(label_token_ids) != 2):
            raise ValueError("head='lm' needs label_token_ids=(negative_id, positive_id)")
        ids = tokenizer(step_token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"step_token {step_token!r} must be one token of the tokenizer, it encodes to {ids}")
        if use_chat_template and getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("use_chat_template=True but the tokenizer has no chat_template")
        self.model = model
        self.tokenizer = tokenizer
        self.step_token = step_token
        self.step_token_id = ids[0]
        self.head = head
        self.positive_label = positive_label
        self.label_token_ids = tuple(label_token_ids) if label_token_ids is not None else None
        self.system_prompt = system_prompt
        self.use_chat_template = use_chat_template
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if device is not None:
            model.to(self.device)
        model.eval()
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.name = f"TransformersPRM({type(model).__name__})"

    @classmethod
    def from_pretrained(cls, path, *, head: str = "classifier", device=None, dtype=None, trust_remote_code=False, **kw):
        """Load a local PRM folder: ``AutoModelForTokenClassification`` (classifier head; Qwen2.5-Math-PRM
        needs ``trust_remote_code=True``) or ``AutoModelForCausalLM`` (lm head)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        cls_ = AutoModelForTokenClassification if head == "classifier" else AutoModelForCausalLM
        mkw = {"trust_remote_code": trust_remote_code}
        if dtype is not None:
            mkw["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        try:
            model = cls_.from_pretrained(path, **mkw)
        except ValueError:
            if head != "classifier":
                raise
            from transformers import AutoModel  # custom PRM heads (Qwen2ForProcessRewardModel) register AutoModel

            model = AutoModel.from_pretrained(path, **mkw)
        return cls(model, tok, head=head, device=device, **kw)

    def render(self, question: str, steps: Sequence[str]) -> str:
        """The text the PRM reads for one partial answer."""
        body = "".join(s + self.step_token for s in steps)
        if not self.use_chat_template:
            return question.rstrip("\n") + "\n" + body
        msgs = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        msgs += [{"role": "user", "content": question}, {"role": "assistant", "content": body}]
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Positive-class probability at every separator (one batched forward per ``batch_size`` answers)."""
        import torch

        qs, st = check_score_steps_args(questions, steps)
        out: list[list[float]] = [[] for _ in qs]
        todo = [i for i, s in enumerate(st) if s]
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            enc = [self.tokenizer(self.render(qs[i], st[i]))["input_ids"] for i in idx]
            width = max(len(e) for e in enc)
            ids = torch.full((len(enc), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for j, e in enumerate(enc):  # right padding: positions are the natural ones
                ids[j, : len(e)] = torch.tensor(e)
                mask[j, : len(e)] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            for j, i in enumerate(idx):
                sep = (ids[j] == self.step_token_id) & (mask[j] == 1)
                pos = torch.nonzero(sep).flatten()
                if len(pos) != len(st[i]):
                    raise MalformedOutputError(
                        f"answer {i}: found {len(pos)} separator tokens for {len(st[i])} steps; a step must not "
                        f"contain {self.step_token!r} and the template must not add or drop separators"
                    )
                if self.head == "classifier":
                    p = torch.softmax(logits[j, pos], dim=-1)[:, self.positive_label]
                else:
                    pair = logits[j, pos][:, list(self.label_token_ids)]
                    p = torch.softmax(pair, dim=-1)[:, 1]
                out[i] = p.double().cpu().tolist()
        return check_step_scores(out, st, self.name)


# ---------------------------------------------------------------------------- served PRM
class EndpointPRM:
    r"""A PRM served over HTTP, e.g. ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling``.

    Each partial answer is rendered like :class:`TransformersPRM` (steps joined and ended
    by ``step_token``; chat messages or a plain string) and all answers go to
    ``POST {base_url}{path}`` in one request, ``{"model": model, "input": [text, ...]}``
    (chat messages use one request per answer with ``"messages"``).  The response's
    ``data[i]["data"]`` must hold one entry per separator: a probability, or a
    ``[p_negative, p_positive]`` pair (``positive_index`` picks the entry); with
    ``scores_are="logits"`` a softmax is applied first.

    Retries, timeouts and the concurrency limit come from the shared HTTP client.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        path: str = "/pooling",
        step_token: str = "<extra_0>",
        system_prompt: str | None = QWEN_PRM_SYSTEM_PROMPT,
        use_messages: bool = False,
        positive_index: int = 1,
        scores_are: str = "probs",
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_concurrency: int = 8,
        batch_size: int = 64,
    ):
        from llm_bridge.backends._http import HTTPClient

        if scores_are not in ("probs", "logits"):
            raise ValueError(f"scores_are must be 'probs' or 'logits', got {scores_are!r}")
        self.client = HTTPClient(
            base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
            max_concurrency=max_concurrency,
        )
        self.model = model
        self.path = path
        self.step_token = step_token
        self.system_prompt = system_prompt
        self.use_messages = use_messages
        self.positive_index = positive_index
        self.scores_are = scores_are
        self.batch_size = batch_size
        self.name = f"EndpointPRM({base_url}{path})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _messages(self, q, steps):
        body = "".join(s + self.step_token for s in steps)
        msgs = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        return msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": body}]

    def _parse_entry(self, entry, n_steps: int, i: int) -> list[float]:
        data = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(data, list) or len(data) != n_steps:
            got = len(data) if isinstance(data, list) else type(data).__name__
            raise MalformedOutputError(f"{self.name}: answer {i} got {got} step entries for {n_steps} steps")
        vals = []
        for e in data:
            if isinstance(e, (list, tuple)):
                arr = np.asarray(e, dtype=float)
                if self.scores_are == "logits":
                    arr = np.exp(arr - arr.max()) / np.exp(arr - arr.max()).sum()
                if not (0 <= self.positive_index < len(arr)):
                    raise MalformedOutputError(f"{self.name}: step entry {e!r} has no index {self.positive_index}")
                vals.append(float(arr[self.positive_index]))
            elif isinstance(e, (int, float)):
                vals.append(1 / (1 + math.exp(-e)) if self.scores_are == "logits" else float(e))
            else:
                raise MalformedOutputError(f"{self.name}: answer {i} has a non-numeric step entry {e!r}")
        return vals

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Score all partial answers (batched requests of ``batch_size`` inputs)."""
        qs, st = check_score_steps_args(questions, steps)
        out: list[list[float]] = [[] for _ in qs]
        todo = [i for i, s in enumerate(st) if s]
        if self.use_messages:
            payloads = [{"model": self.model, "messages": self._messages(qs[i], st[i])} for i in todo]
            groups = [[i] for i in todo]
        else:
            groups = [todo[k : k + self.batch_size] for k in range(0, len(todo), self.batch_size)]
            payloads = [
                {"model": self.model, "input": [qs[i].rstrip("\n") + "\n" + "".join(s + self.step_token for s in st[i]) for i in g]}
                for g in groups
            ]
        answers = self.client.post_many(self.path, payloads)
        for g, ans in zip(groups, answers):
            data = ans.get("data") if isinstance(ans, dict) else None
            if not isinstance(data, list) or len(data) != len(g):
                raise MalformedOutputError(f"{self.name}: expected {len(g)} entries in 'data', got {str(ans)[:200]}")
            for entry, i in zip(data, g):
                out[i] = self._parse_entry(entry, len(st[i]), i)
        return check_step_scores(out, st, self.name)


# ---------------------------------------------------------------------------- LLM judge
DEFAULT_JUDGE_TEMPLATE = (
    "Question:\n{question}\n\nSolution so far:\n{previous}\n\nNew step:\n{step}\n\n"
    "Is the new step correct? Answer Yes or No.\nAnswer:"
)


class LLMJudgePRM(_PerStepPRM):
    r"""An LLM as judge: score = :math:`P(\text{yes}) / (P(\text{yes}) + P(\text{no}))`.

    For every step a judge prompt (``template`` with ``{question}``, ``{previous}`` -- the
    earlier steps joined by ``joiner`` -- and ``{step}``; ``prompt_fn`` may wrap it, e.g.
    in a chat template) is scored with ``backend.score`` for the continuations ``yes`` and
    ``no`` (two teacher-forced calls batched over all new steps).  Normalising over the two
    answers removes the probability of other continuations.

    Needs a backend whose ``score`` is exact (:class:`TransformersBackend`, vLLM); not
    llama.cpp's server (its prompt scoring is off by one).
    """

    def __init__(
        self,
        backend,
        *,
        template: str = DEFAULT_JUDGE_TEMPLATE,
        yes: str = " Yes",
        no: str = " No",
        joiner: str = "\n",
        prompt_fn: Callable[[str], str] | None = None,
        cache_size: int = 100_000,
    ):
        super().__init__(cache_size)
        for key in ("{question}", "{step}"):
            if key not in template:
                raise ValueError(f"template must contain {key}, got {template[:80]!r}")
        if not yes or not no or yes == no:
            raise ValueError(f"yes and no must be two different non-empty strings, got {yes!r} and {no!r}")
        self.backend = backend
        self.template = template
        self.yes, self.no, self.joiner = yes, no, joiner
        self.prompt_fn = prompt_fn
        self.name = f"LLMJudgePRM({type(backend).__name__})"

    def judge_prompt(self, question: str, steps: Sequence[str]) -> str:
        """The judge prompt for the last of ``steps``."""
        prev = self.joiner.join(steps[:-1]) if len(steps) > 1 else "(none)"
        text = self.template.format(question=question, previous=prev, step=steps[-1])
        return self.prompt_fn(text) if self.prompt_fn else text

    def _score_new(self, items):
        prompts = [self.judge_prompt(q, s) for q, s in items]
        ly = np.asarray(self.backend.score(prompts, [self.yes] * len(prompts)), float)
        ln = np.asarray(self.backend.score(prompts, [self.no] * len(prompts)), float)
        if ly.shape != (len(prompts),) or ln.shape != (len(prompts),) or not np.all(np.isfinite(np.r_[ly, ln]) | (np.r_[ly, ln] == -np.inf)):
            raise MalformedOutputError(f"{self.name}: the backend's score returned invalid log-probabilities")
        m = np.maximum(ly, ln)
        if np.any(m == -np.inf):
            raise InvalidRewardError(f"{self.name}: both {self.yes!r} and {self.no!r} have probability 0")
        return list(1.0 / (1.0 + np.exp(ln - ly)))


# ---------------------------------------------------------------------------- self-certainty
class SelfCertaintyPRM(_PerStepPRM):
    r"""No PRM: each step scored by the policy's own certainty, :math:`\exp(\frac1{n}\sum_k \log p(y_k \mid \cdot))`.

    The geometric-mean probability of the step's ``n`` tokens under the policy, given the
    prompt ``prompt_fn(question)`` and the earlier steps, each followed by ``joiner``
    (teacher forcing through ``backend.score_tokens``; the memo makes each step cost one
    scoring).  ``include_joiner=True`` also scores the delimiter after the step (the
    policy's probability of ending the step there).  ``reduce="min"`` uses the least
    likely token's probability instead of the geometric mean (one unlikely token -- a
    wrong digit -- is not averaged away).  Values lie in ``(0, 1]``.
    """

    def __init__(
        self,
        backend,
        *,
        prompt_fn: Callable[[str], str] | None = None,
        joiner: str = "\n\n",
        include_joiner: bool = False,
        reduce: str = "mean",
        cache_size: int = 100_000,
    ):
        super().__init__(cache_size)
        if reduce not in ("mean", "min"):
            raise ValueError(f"reduce must be 'mean' or 'min', got {reduce!r}")
        self.reduce = reduce
        check_token_scoring_backend(backend)
        self.backend = backend
        self.prompt_fn = prompt_fn
        self.joiner = joiner
        self.include_joiner = include_joiner
        self.name = f"SelfCertaintyPRM({type(backend).__name__})"

    def _score_new(self, items):
        prompts, conts = [], []
        for q, s in items:
            base = self.prompt_fn(q) if self.prompt_fn else q
            prompts.append(base + "".join(x + self.joiner for x in s[:-1]))
            conts.append(s[-1] + (self.joiner if self.include_joiner else ""))
        toks = check_token_scores(self.backend.score_tokens(prompts, conts), conts, type(self.backend).__name__)
        out = []
        for t in toks:
            if not t:
                out.append(1.0)  # an empty step is certain
                continue
            t = np.asarray(t, float)
            agg = t.mean() if self.reduce == "mean" else t.min()
            out.append(float(np.exp(np.minimum(agg, 0.0))))
        return out


# ---------------------------------------------------------------------------- verifiers
class VerifierPRM(_PerStepPRM):
    """A programmatic verifier: ``check(question, previous_steps, step)`` -> bool (or a probability).

    ``True`` maps to ``pass_score`` and ``False`` to ``fail_score``; a float is used as is.
    """

    def __init__(self, check: Callable, *, pass_score: float = 0.95, fail_score: float = 0.05, cache_size: int = 100_000):
        super().__init__(cache_size)
        if not callable(check):
            raise TypeError(f"check must be callable, got {type(check).__name__}")
        for nm, v in (("pass_score", pass_score), ("fail_score", fail_score)):
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"{nm} must be in [0, 1], got {v!r}")
        self.check = check
        self.pass_score, self.fail_score = float(pass_score), float(fail_score)
        self.name = f"VerifierPRM({getattr(check, '__name__', type(check).__name__)})"

    def _verdict(self, question, prev, step) -> float:
        v = self.check(question, list(prev), step)
        if isinstance(v, (bool, np.bool_)):
            return self.pass_score if v else self.fail_score
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InvalidRewardError(f"{self.name}: check returned {v!r}; expected a bool or a probability") from None
        return v

    def _score_new(self, items):
        return [self._verdict(q, s[:-1], s[-1]) for q, s in items]


def _uniform(seed: int, *parts: str) -> float:
    """A deterministic U(0, 1) draw from a hash of ``seed`` and ``parts``."""
    h = hashlib.blake2b(digest_size=8, key=str(seed).encode()[:64])
    for p in parts:
        h.update(p.encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big") / 2**64


class ToyStepVerifier(VerifierPRM):
    r"""The exact step checker of the toy task, made imperfect at set rates.

    A wrong step passes with probability ``false_positive_rate`` and a correct step fails
    with probability ``false_negative_rate``.  The draw is a hash of ``(seed, question,
    steps so far)``, so a verifier is a *function* (the same partial answer always gets
    the same verdict) and independent across distinct steps.  Questions are toy prompts
    (:func:`~llm_bridge.toy.task.format_prompt`); correctness is
    :func:`~llm_bridge.toy.task.check_step` (on-track labels).

    With ``fpr = q`` the verifier is the "imperfect verifier" of Stroebl et al. (2024):
    resampling until a pass cannot exceed accuracy ``p / (p + q')`` (``q'`` the chance a
    wrong answer passes), whatever the budget.
    """

    def __init__(
        self,
        *,
        false_positive_rate: float = 0.0,
        false_negative_rate: float = 0.0,
        seed: int = 0,
        pass_score: float = 0.95,
        fail_score: float = 0.05,
        cache_size: int = 100_000,
    ):
        from llm_bridge.toy.task import check_step, parse_prompt

        for nm, v in (("false_positive_rate", false_positive_rate), ("false_negative_rate", false_negative_rate)):
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"{nm} must be in [0, 1], got {v!r}")
        self.false_positive_rate = float(false_positive_rate)
        self.false_negative_rate = float(false_negative_rate)
        self.seed = int(seed)
        self._parse, self._check = parse_prompt, check_step

        def toy_check(question, prev, step):
            truth = self._check(self._parse(question), prev, step)
            u = _uniform(self.seed, question, *prev, step)
            if truth:
                return u >= self.false_negative_rate
            return u < self.false_positive_rate

        super().__init__(toy_check, pass_score=pass_score, fail_score=fail_score, cache_size=cache_size)
        self.name = f"ToyStepVerifier(fpr={self.false_positive_rate}, fnr={self.false_negative_rate}, seed={self.seed})"
