r"""The batched sampling loop of :class:`~llm_bridge.backends.transformers.TransformersBackend`.

Shared-prefix KV reuse, prefill of each row's own suffix, sampling with temperature and top-p
while recording the unmodified model's log-probabilities, stop strings on decoded text, and
dropping finished rows from the batch (see the backend's module docstring).  A mixin: it uses
the backend's ``model``, tokenizer helpers, ``_forward`` and ``_new_cache``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from llm_bridge.backends._common import truncate_at_stop
from llm_bridge.contracts import FinishReason, Generation

__all__ = ["DecodeLoop"]


class DecodeLoop:
    """Prefill and decode methods mixed into :class:`~llm_bridge.backends.transformers.TransformersBackend`."""

    # provided by the backend class (declarations only: no class attributes are created)
    device: Any
    stats: dict[str, int]
    share_prefix: bool
    pad_token_id: Any
    max_length: int | None
    eos_token_ids: Any
    _forward: Callable[..., Any]
    _new_cache: Callable[..., Any]
    _decode: Callable[..., Any]

    @staticmethod
    def _common_prefix_len(rows: list[list[int]]) -> int:
        """Longest common token prefix, capped so that every row keeps at least one own token."""
        lcp = min(len(r) for r in rows) - 1
        first = rows[0]
        for r in rows[1:]:
            k = 0
            while k < lcp and r[k] == first[k]:
                k += 1
            lcp = k
        return max(lcp, 0)

    def _run_prefix(self, ids: list[int], start: int, cache):
        """Extend a batch-1 ``cache`` (holding ``start`` tokens) with ``ids[start:]``."""
        import torch

        if len(ids) > start:
            dev = self.device
            t = torch.tensor([ids[start:]], device=dev)
            mask = torch.ones((1, len(ids)), dtype=torch.long, device=dev)
            self._forward(t, mask, torch.arange(start, len(ids), device=dev)[None], cache)
            self.stats["prefill_tokens"] += len(ids) - start
        return cache

    def _prefill(self, chunk: list[list[int]], shared: tuple[int, object] | None):
        """Run the rows' suffixes after their shared prefix; return (last logits, cache, mask, next positions).

        ``shared = (length, batch-1 cache)`` is the call-wide common prefix, computed once; the
        chunk's own (possibly longer) common prefix extends a copy of it.
        """
        import copy

        import torch

        R = len(chunk)
        dev = self.device
        lcp = self._common_prefix_len(chunk) if (self.share_prefix and R > 1) else 0
        if lcp > 0:
            if shared is not None and shared[0] <= lcp:
                cache = self._run_prefix(chunk[0][:lcp], shared[0], copy.deepcopy(shared[1]))
            else:
                cache = self._run_prefix(chunk[0][:lcp], 0, self._new_cache())
            cache.batch_repeat_interleave(R)
        else:
            cache = self._new_cache()
        self.stats["prefill_tokens"] += sum(len(r) - lcp for r in chunk)
        suffixes = [r[lcp:] for r in chunk]
        width = max(len(s) for s in suffixes)
        ids = torch.full((R, width), self.pad_token_id, dtype=torch.long, device=dev)
        smask = torch.zeros((R, width), dtype=torch.long, device=dev)
        for j, s in enumerate(suffixes):
            ids[j, width - len(s) :] = torch.tensor(s, device=dev)
            smask[j, width - len(s) :] = 1
        mask = torch.cat([torch.ones((R, lcp), dtype=torch.long, device=dev), smask], dim=1)
        pos_full = (mask.cumsum(1) - 1).clamp(min=0)
        logits = self._forward(ids, mask, pos_full[:, lcp:], cache)[:, -1, :]
        next_pos = torch.tensor([len(r) for r in chunk], device=dev)
        return logits, cache, mask, next_pos

    def _sample(self, logits, temperature, top_p, gen):
        import torch

        z = logits.float()
        if temperature == 0.0:
            return z.argmax(-1)
        z = z / temperature
        if top_p < 1.0:
            sorted_z, idx = torch.sort(z, descending=True, dim=-1)
            probs = torch.softmax(sorted_z, -1)
            cum = probs.cumsum(-1)
            drop = cum - probs > top_p  # keep the smallest set whose mass reaches top_p (>= 1 token)
            sorted_z = sorted_z.masked_fill(drop, -float("inf"))
            z = torch.full_like(z, -float("inf")).scatter(-1, idx, sorted_z)
        probs = torch.softmax(z, -1)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    def _generate_chunk(self, chunk, max_tokens, temperature, top_p, stop, gen, shared) -> list[Generation]:
        import torch

        from probinf.kernels.token_logprobs import token_logprobs

        R = len(chunk)
        logits, cache, mask, pos = self._prefill(chunk, shared)
        active = list(range(R))  # row indices still generating, aligned with the batch
        toks: list[list[int]] = [[] for _ in range(R)]
        lps: list[list[float]] = [[] for _ in range(R)]
        finish: list[FinishReason] = ["length"] * R
        matched: list[str | None] = [None] * R
        window = max((len(s) for s in stop), default=0) + 8
        limit = [max_tokens if self.max_length is None else min(max_tokens, self.max_length - len(r)) for r in chunk]
        while active:
            nxt = self._sample(logits, temperature, top_p, gen)
            lp = token_logprobs(logits, nxt)  # under the unmodified distribution
            nxt_l, lp_l = nxt.tolist(), lp.tolist()
            keep = []
            for b, row in enumerate(active):
                t = nxt_l[b]
                toks[row].append(t)
                lps[row].append(lp_l[b])
                done: FinishReason | None = None
                if t in self.eos_token_ids:
                    done = "eos"
                elif stop and any(s in self._decode(toks[row][-window:]) for s in stop):
                    done = "stop"
                elif len(toks[row]) >= limit[row]:
                    done = "length"
                if done is None:
                    keep.append(b)
                else:
                    finish[row] = done
            self.stats["generated_tokens"] += len(active)
            if not keep:
                break
            if len(keep) < len(active):
                sel = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(sel)
                mask, pos, nxt = mask[sel], pos[sel], nxt[sel]
                active = [active[b] for b in keep]
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], dim=1)
            logits = self._forward(nxt[:, None], mask, pos[:, None], cache)[:, -1, :]
            pos = pos + 1
        out = []
        for row in range(R):
            ids = toks[row]
            body = ids[:-1] if finish[row] == "eos" else ids
            text = self._decode(body)
            if finish[row] == "stop":
                text, matched[row] = truncate_at_stop(text, stop)
            out.append(
                Generation(
                    text=text,
                    token_ids=tuple(ids),
                    num_tokens=len(ids),
                    logprob=float(math.fsum(lps[row])),
                    finish_reason=finish[row],
                    meta={"token_logprobs": tuple(lps[row]), "stop": matched[row]},
                )
            )
        return out
