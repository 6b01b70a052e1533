"""TransformersBackend vs Hugging Face ``model.generate`` (the peer a user would otherwise call), same run.

Workload: the shipped toy policy (1.06M-parameter Llama, CPU, one thread), sampling at temperature 1.
1. ``rows`` particles continuing ONE shared prompt (the first step of particle filtering):
   ``generate(num_return_sequences=rows)`` vs ``TransformersBackend.generate(n=rows)`` with and without
   shared-prefix KV reuse.
2. ``rows`` particles continuing DIFFERENT partial answers of one problem (a later PF step):
   left-padded ``generate`` vs the backend (shared problem prefix + per-particle suffixes).
Each configuration generates exactly ``max_tokens`` tokens per row (no stop strings, EOS suppressed by
``min_new_tokens`` / a long enough budget is not needed: rows that end early are counted as generated).
Tokens/s counts generated tokens; the backend also returns per-token log-probabilities, which the peer
does not (``output_scores`` would add its own cost).

Writes ``benchmarks/results/transformers_backend.{json,md}``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_results  # noqa: E402


def main(rows_list=(16, 64), max_tokens: int = 24, repeats: int = 3):
    import torch

    from llm_bridge.backends import TransformersBackend
    from llm_bridge.toy import toy_model_path
    from llm_bridge.toy.task import canonical_steps, format_prompt, make_problems

    torch.set_num_threads(1)
    shared = TransformersBackend.from_pretrained(toy_model_path(), device="cpu", batch_size=1024)
    plain = TransformersBackend.from_pretrained(toy_model_path(), device="cpu", batch_size=1024, share_prefix=False)
    model, tok = shared.model, shared.tokenizer
    p = make_problems(1, seed=5, num_ops=6)[0]
    base = format_prompt(p)
    steps = canonical_steps(p)

    def hf_generate(prompts, n):
        enc = tok(prompts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_tokens,
                                 min_new_tokens=max_tokens, num_return_sequences=n, pad_token_id=tok.pad_token_id)
        return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]

    def ours(be, prompts, n):
        before = be.stats["generated_tokens"]
        be.generate(prompts, n=n, max_tokens=max_tokens, temperature=1.0, seed=0)
        return be.stats["generated_tokens"] - before

    def best(fn):
        fn()  # warm-up
        ts, toks = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            toks = fn()
            ts.append(time.perf_counter() - t0)
        return min(ts), toks

    results, md = [], ["| workload | rows | HF generate tok/s | backend (shared prefix) tok/s | backend (no sharing) "
                       "tok/s | ratio shared/HF |",
                       "|---|---|---|---|---|---|"]
    for rows in rows_list:
        diverse = [base + "".join(s + "\n" for s in steps[: i % len(steps)]) for i in range(rows)]
        for name, prompts, n in (("one shared prompt", [base], rows), ("distinct partial answers", diverse, 1)):
            t_hf, k_hf = best(lambda: hf_generate(prompts, n))  # noqa: B023 - called within this iteration
            t_sh, k_sh = best(lambda: ours(shared, prompts, n))  # noqa: B023 - called within this iteration
            t_pl, k_pl = best(lambda: ours(plain, prompts, n))  # noqa: B023 - called within this iteration
            row = {"workload": name, "rows": rows, "max_tokens": max_tokens,
                   "hf_tok_s": k_hf / t_hf, "shared_tok_s": k_sh / t_sh, "plain_tok_s": k_pl / t_pl,
                   "hf_tokens": k_hf, "shared_tokens": k_sh, "plain_tokens": k_pl}
            row["ratio_shared_over_hf"] = row["shared_tok_s"] / row["hf_tok_s"]
            results.append(row)
            md.append(f"| {name} | {rows} | {row['hf_tok_s']:.0f} | {row['shared_tok_s']:.0f} | "
                      f"{row['plain_tok_s']:.0f} | "
                      f"{row['ratio_shared_over_hf']:.2f} |")
            print(row, flush=True)
    text = ("# TransformersBackend vs HF generate (toy policy, CPU, 1 thread)\n\n" + "\n".join(md) +
            f"\n\nTokens/s of generated tokens (best of {repeats} runs); "
            "the backend also returns per-token logprobs.\n")
    write_results("transformers_backend", results, text)
    print(text)
    return results


if __name__ == "__main__":
    main()
