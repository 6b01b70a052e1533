"""A local Hugging Face process reward model in the Qwen2.5-Math-PRM style."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from llm_bridge.contracts import (
    check_score_steps_args,
    check_step_scores,
)
from llm_bridge.exceptions import MalformedOutputError
from llm_bridge.rewards._base import QWEN_PRM_SYSTEM_PROMPT

__all__ = ['TransformersPRM']


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
                    label_ids = cast(tuple[int, ...], self.label_token_ids)  # set for the LM head
                    pair = logits[j, pos][:, list(label_ids)]
                    p = torch.softmax(pair, dim=-1)[:, 1]
                out[i] = p.double().cpu().tolist()
        return check_step_scores(out, st, self.name)
