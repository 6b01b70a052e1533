"""What ``backend="auto"`` runs: the fastest correct path measured for the device and size.

The table below is transcribed from ``benchmarks/results/backend_table.json`` (H200 with
JAX 0.11.2 / torch 2.11, and the 2-core CPU box; the JSON names the benchmark runs) and
``tests/probinf_kernels/test_backend_table.py`` checks that it picks the measured winner at
every measured point.  Refresh both from ``benchmarks/gpu/run_gpu.sh`` output.

Rules are ``(min_work, backend)`` thresholds per ``(kernel, platform)``: the last rule whose
``min_work`` is at most the call's work (a kernel-specific size, below) wins.  Between
measured points the rule keeps the path that won at the smaller size; the Pallas kernels are
chosen only at and above the smallest size where they were measured to win.

What the measurements say (see docs/kernels.md):

- ``conformal_bayes`` (work = T * n * G): the fused XLA path (``"cpu"``, it runs on any device)
  beat the Pallas kernel by 2.4x to 10x on the H200, so ``auto`` never picks Pallas.
- ``token_logprobs`` (work = rows * V): on a GPU, plain ``log_softmax`` + gather (``"reference"``)
  beat Pallas (JAX input) and the row-blocked path (torch input); it materializes a float32
  ``(rows, V)`` tensor, so above :data:`TOKEN_TEMP_BUDGET_BYTES` ``auto`` falls back to the
  path without that temporary (``"cpu"``).  On CPU the row-blocked / fused path wins.
- ``mixture`` (work = P * n * K * D): Pallas won from 1e9 terms (P * n = 6.7e7, K = 8, D = 2) on the H200
  (1.4-1.5x) and lost at 5e5 (launch overhead); XLA's chunked path below that.
"""

from __future__ import annotations

__all__ = ["AUTO_TABLE", "TOKEN_TEMP_BUDGET_BYTES", "choose_backend"]

#: Largest float32 ``(rows, V)`` temporary that ``token_logprobs`` auto accepts on a GPU.
TOKEN_TEMP_BUDGET_BYTES = 4 * 2**30

AUTO_TABLE: dict[tuple[str, str], tuple[tuple[float, str], ...]] = {
    ("conformal_bayes", "gpu"): ((0.0, "cpu"),),
    ("conformal_bayes", "cpu"): ((0.0, "cpu"),),
    ("token_logprobs", "gpu"): ((0.0, "reference"),),
    ("token_logprobs", "cpu"): ((0.0, "cpu"),),
    ("mixture", "gpu"): ((0.0, "cpu"), (1.073741824e9, "pallas")),
    ("mixture", "cpu"): ((0.0, "cpu"),),
}


def choose_backend(kernel: str, platform: str, work: float, *, temp_bytes: float = 0.0) -> str:
    """Backend for ``kernel`` on ``platform`` (``"gpu"`` or ``"cpu"``; anything else counts as CPU).

    ``temp_bytes``: the extra memory the plain ``"reference"`` formulation would take
    (``token_logprobs`` only).
    """
    rules = AUTO_TABLE[(kernel, "gpu" if platform in ("gpu", "cuda") else "cpu")]
    pick = rules[0][1]
    for min_work, backend in rules:
        if work >= min_work:
            pick = backend
    if kernel == "token_logprobs" and pick == "reference" and temp_bytes > TOKEN_TEMP_BUDGET_BYTES:
        pick = "cpu"
    return pick
