"""probinf.kernels.token_logprobs vs the naive ``log_softmax`` + gather (torch and JAX), CPU: wall time and peak memory.

Sizes sweep B x L x V at a vocabulary of 32k (Llama-2) and 152k (Qwen-2.5) tokens, float32 and bfloat16
logits (torch).  Peak memory is the extra resident memory of a fresh process running the workload once
(``benchmarks._util.peak_rss_mb``): the naive path allocates a second (B, L, V) float32 tensor (and a
float32 copy of bf16 logits), the chunked path only (B, L, chunk).

Writes ``benchmarks/results/token_logprobs.{json,md}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import median_time, peak_rss_mb, write_results  # noqa: E402

SIZES = [(1, 512, 32_000), (4, 512, 32_000), (1, 512, 152_064)]

_SETUP = """
import sys; sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from probinf.kernels.token_logprobs import token_logprobs
g = torch.Generator().manual_seed(0)
z = torch.empty({B}, {L}, {V}, dtype=torch.{dtype}).normal_(0, 3, generator=g)  # no float32 temporary
ids = torch.randint(0, {V}, ({B}, {L}), generator=g)
"""


def main():
    import torch

    from probinf.kernels.token_logprobs import token_logprobs

    torch.set_num_threads(1)
    root = str(Path(__file__).resolve().parents[1])
    rows = []
    md = ["| B x L x V | dtype | logits MiB | naive s | blocked s | V-chunked s | naive peak MiB | blocked peak MiB | "
          "V-chunked peak MiB |",
          "|---|---|---|---|---|---|---|---|---|"]
    # Memory first: on Linux a child's ru_maxrss starts at the parent's resident size at fork,
    # so the parent must not hold large tensors while peak_rss_mb runs.
    mems = {}
    for B, L, V in SIZES:
        for dtype in ("float32", "bfloat16"):
            setup = _SETUP.format(root=root, B=B, L=L, V=V, dtype=dtype)
            mems[(B, L, V, dtype)] = {b: peak_rss_mb(setup + f"#--workload--\ntoken_logprobs(z, ids, backend={b!r})\n")
                                      for b in ("reference", "cpu", "chunked")}
    for B, L, V in SIZES:
        for dtype in ("float32", "bfloat16"):
            g = torch.Generator().manual_seed(0)
            z = torch.empty(B, L, V, dtype=getattr(torch, dtype)).normal_(0, 3, generator=g)
            ids = torch.randint(0, V, (B, L), generator=g)
            t_ref = median_time(lambda: token_logprobs(z, ids, backend="reference"))  # noqa: B023 - called within this iteration
            t_blk = median_time(lambda: token_logprobs(z, ids, backend="cpu"))  # noqa: B023 - called within this iteration
            t_chk = median_time(lambda: token_logprobs(z, ids, backend="chunked"))  # noqa: B023 - called within this iteration
            ref = token_logprobs(z, ids, backend="reference")
            err = max(float((ref - token_logprobs(z, ids, backend=b)).abs().max()) for b in ("cpu", "chunked"))
            mem = mems[(B, L, V, dtype)]
            row = {"B": B, "L": L, "V": V, "dtype": dtype, "naive_s": t_ref, "blocked_s": t_blk, "chunked_s": t_chk,
                   "naive_peak_mib": mem["reference"], "blocked_peak_mib": mem["cpu"],
                   "chunked_peak_mib": mem["chunked"],
                   "logits_mib": z.numel() * z.element_size() / 2**20, "max_abs_diff": err}
            rows.append(row)
            md.append(f"| {B} x {L} x {V} | {dtype} | {row['logits_mib']:.0f} | {t_ref:.3f} | {t_blk:.3f} | "
                      f"{t_chk:.3f} | "
                      f"{mem['reference']:.0f} | {mem['cpu']:.0f} | {mem['chunked']:.0f} |")
            print(row, flush=True)
    text = ("# token_logprobs (torch, CPU, 1 thread): row-blocked and V-chunked vs log_softmax + gather\n\n"
            + "\n".join(md)
            + "\n\nPeak MiB: extra resident memory of a fresh process for one call (logits excluded).\n")
    write_results("token_logprobs", rows, text)
    print(text)


if __name__ == "__main__":
    main()
