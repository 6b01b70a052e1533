"""Loading a GGUF checkpoint with transformers (dequantized), and the torch / transformers requirement."""

from __future__ import annotations

from pathlib import Path

from llm_bridge.exceptions import BackendUnavailableError

__all__ = ["load_gguf_as_transformers", "require_torch"]


def require_torch():
    """Raise :class:`~llm_bridge.exceptions.BackendUnavailableError` unless torch and transformers import."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without the llm extra
        raise BackendUnavailableError(
            "TransformersBackend needs torch and transformers: pip install 'probinf[llm]' "
            "(and a pinned torch, e.g. torch==2.13.0)"
        ) from e


def load_gguf_as_transformers(gguf_path: str | Path, out_dir: str | Path | None = None):
    """Load a GGUF checkpoint with transformers (dequantized), optionally saving it as safetensors.

    Loading a GGUF file is slow (~15 s for 135M parameters: dequantization); saving it
    once with ``out_dir`` makes later loads fast (~0.3 s).  Works offline.

    Returns
    -------
    (model, tokenizer)
    """
    require_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"gguf_path {gguf_path} does not exist")
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if out_dir is not None:
        # A GGUF-loaded model refuses save_pretrained (quantization_config); rebuild it plainly.
        cfg = model.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        plain = AutoModelForCausalLM.from_config(cfg)
        plain.load_state_dict(model.state_dict())
        plain.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        model = plain
    return model, tok
