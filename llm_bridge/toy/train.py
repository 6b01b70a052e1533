r"""Train the toy policy: a ~1M-parameter Llama-architecture causal LM with a character tokenizer.

The model learns to solve :mod:`llm_bridge.toy.task` problems one step per line.  It
is trained on freshly drawn problems (training seed stream disjoint from the
evaluation seeds used in the tests and the reproduction), with the loss on the
solution tokens only, AdamW, linear warm-up then cosine decay, gradient clipping 1.0.
The result is saved with ``save_pretrained`` (``config.json``, ``model.safetensors``,
tokenizer files), so every HF-compatible backend (transformers, vLLM, ...) loads it.

Reproduce the shipped weights (a few CPU minutes on 2 cores)::

    python -m llm_bridge.toy.train --out llm_bridge/toy/assets/toy_policy

The command line records its settings and the held-out accuracies in
``training_info.json`` next to the weights.  Same seed and same machine give the same
weights (CPU kernels are deterministic); other machines may differ in the last bits.

The tokenizer (:func:`build_tokenizer`) maps each character to one token (printable
ASCII plus ``\n`` and ``\t``) and prepends ``<s>``; ``</s>`` ends an answer and also
serves as the pad token.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from llm_bridge.toy.task import format_prompt, grade, make_problems, solution_text

__all__ = ["SPECIAL_TOKENS", "build_tokenizer", "build_model", "encode_batch", "train", "evaluate", "main"]

#: ``(pad, bos, eos, unk)`` tokens of the character tokenizer.
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")

#: Training problems: 1..6 operations on values in [0, 99]; every batch holds one
#: chain length (cycling 1, 2, ..., 6), which avoids padding waste.
TRAIN_NUM_OPS = (1, 6)
#: Seed offset of the training problem stream (evaluation uses small seeds).
TRAIN_SEED_OFFSET = 1_000_003


def build_tokenizer():
    """A character-level ``PreTrainedTokenizerFast`` built with ``tokenizers``.

    Every printable ASCII character, ``\n`` and ``\t`` is one token; other characters
    map to ``<unk>``.  Encoding prepends ``<s>`` (a ``TemplateProcessing`` post-processor),
    decoding fuses the characters back, so ``decode(encode(s), skip_special_tokens=True) == s``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = ["\n", "\t"] + [chr(c) for c in range(32, 127)]
    vocab = {t: i for i, t in enumerate(list(SPECIAL_TOKENS) + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=512,
        clean_up_tokenization_spaces=False,
    )


def build_model(tokenizer, *, d_model: int = 128, num_layers: int = 4, num_heads: int = 4, seed: int = 0):
    """A randomly initialised ``LlamaForCausalLM`` (~1.06M parameters at the defaults)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=4 * d_model,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def encode_batch(tokenizer, problems):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding)."""
    import torch

    rows, labels = [], []
    for p in problems:
        prompt_ids = tokenizer(format_prompt(p))["input_ids"]
        sol_ids = tokenizer(solution_text(p), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(prompt_ids + sol_ids)
        labels.append([-100] * len(prompt_ids) + sol_ids)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    lab = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (r, lb) in enumerate(zip(rows, labels, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        lab[i, : len(lb)] = torch.tensor(lb)
    return ids, mask, lab


def evaluate(model, tokenizer, problems, *, do_sample: bool = False, seed: int = 0, batch_size: int = 64) -> float:
    """Fraction of problems graded correct; greedy (``do_sample=False``) or sampled at temperature 1."""
    import torch

    model.eval()
    correct = 0
    torch.manual_seed(seed)
    for start in range(0, len(problems), batch_size):
        chunk = problems[start : start + batch_size]
        enc = tokenizer([format_prompt(p) for p in chunk], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=120,
                do_sample=do_sample,
                temperature=1.0 if do_sample else None,
                top_p=1.0 if do_sample else None,
                top_k=0 if do_sample else None,
                pad_token_id=tokenizer.pad_token_id,
            )
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        correct += sum(grade(p, t) for p, t in zip(chunk, texts, strict=True))
    return correct / max(len(problems), 1)


def train(
    out: str | Path,
    *,
    steps: int = 1200,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup: int = 100,
    seed: int = 0,
    d_model: int = 128,
    num_layers: int = 4,
    num_threads: int | None = None,
    eval_problems: int = 200,
    log_every: int = 100,
) -> dict:
    """Train the toy policy and ``save_pretrained`` it (model + tokenizer) into ``out``.

    Returns the training record also written to ``out/training_info.json``.
    """
    import torch
    import transformers

    from probinf.progress import progress

    if num_threads:
        torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    tok = build_tokenizer()
    model = build_model(tok, d_model=d_model, num_layers=num_layers, seed=seed)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(steps - warmup, 1)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses = []
    t0 = time.perf_counter()
    model.train()
    bar = progress(range(steps), desc="train toy policy", total=steps)
    for step in bar:
        k = TRAIN_NUM_OPS[0] + step % (TRAIN_NUM_OPS[1] - TRAIN_NUM_OPS[0] + 1)
        problems = make_problems(batch_size, seed=TRAIN_SEED_OFFSET + seed * 10_000_019 + step, num_ops=k)
        ids, mask, lab = encode_batch(tok, problems)
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            msg = f"step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.4f} ({time.perf_counter() - t0:.0f}s)"
            bar.set_postfix_str(msg) if hasattr(bar, "set_postfix_str") else None
            print(msg, flush=True)
    train_s = time.perf_counter() - t0
    model.eval()
    held_out = make_problems(eval_problems, seed=seed, num_ops=(3, 6))
    record = {
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "warmup": warmup,
        "d_model": d_model,
        "num_layers": num_layers,
        "num_parameters": n_params,
        "train_num_ops": list(TRAIN_NUM_OPS),
        "train_seconds": round(train_s, 1),
        "final_loss": float(np.mean(losses[-50:])),
        "loss_every_100": [float(np.mean(losses[i : i + 100])) for i in range(0, len(losses), 100)],
        "eval": {
            "problems": f"make_problems({eval_problems}, seed={seed}, num_ops=(3, 6))",
            "greedy_accuracy": evaluate(model, tok, held_out),
            "sampled_accuracy_T1": evaluate(model, tok, held_out, do_sample=True, seed=seed),
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "training_info.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv=None) -> dict:
    """Command line: ``python -m llm_bridge.toy.train --out DIR [--steps N] [--seed S] ...``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (save_pretrained format)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--eval-problems", type=int, default=200)
    a = ap.parse_args(argv)
    rec = train(
        a.out,
        steps=a.steps,
        batch_size=a.batch_size,
        lr=a.lr,
        warmup=a.warmup,
        seed=a.seed,
        d_model=a.d_model,
        num_layers=a.layers,
        num_threads=a.threads,
        eval_problems=a.eval_problems,
    )
    print(json.dumps({k: rec[k] for k in ("num_parameters", "train_seconds", "final_loss", "eval")}, indent=2))
    return rec


if __name__ == "__main__":
    main()
