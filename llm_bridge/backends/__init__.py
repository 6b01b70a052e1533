"""Backends implementing :class:`llm_bridge.protocols.Backend`.

- :class:`TransformersBackend` -- any local HF causal LM (torch, CPU or GPU);
- :class:`OpenAICompatibleBackend` -- ``/v1/completions`` (or chat) of vLLM serve, SGLang,
  llama.cpp's server and the like (httpx);
- :class:`VLLMBackend` -- vLLM's offline ``LLM`` with automatic prefix caching.

Each is imported on first use, so ``import llm_bridge.backends`` needs none of torch,
httpx or vllm.
"""

from __future__ import annotations

from probinf.lazy import lazy_exports

__all__ = ["TransformersBackend", "OpenAICompatibleBackend", "VLLMBackend", "load_gguf_as_transformers"]

_WHERE = {
    "TransformersBackend": "llm_bridge.backends.transformers",
    "load_gguf_as_transformers": "llm_bridge.backends.gguf",
    "OpenAICompatibleBackend": "llm_bridge.backends.openai",
    "VLLMBackend": "llm_bridge.backends.vllm",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
