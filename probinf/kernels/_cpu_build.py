"""Build, load and register the C++ CPU kernels (XLA FFI targets), shared by every ``*_cpu`` module.

Each kernel source is compiled on first use with the system C++ compiler (``$CXX`` or
``c++``) against ``jax.ffi.include_dir()``, into ``$PROBINF_KERNEL_CACHE`` (default
``~/.cache/probinf``), keyed by a hash of the source, jaxlib's version and the compiler;
about 3 s once per machine.  ``PROBINF_CPU_KERNELS=0`` disables all of them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax

__all__ = ["build_and_register"]

_REGISTERED: list[str] = []  # XLA keeps a target once registered: register each name once per process


def _cache_dir() -> Path:
    return Path(os.environ.get("PROBINF_KERNEL_CACHE", Path.home() / ".cache" / "probinf"))


def _compile(src_path: Path, cxx: str) -> Path:
    import jaxlib

    src = src_path.read_bytes()
    tag = hashlib.sha256(src + jaxlib.__version__.encode() + cxx.encode()).hexdigest()[:16]
    out = _cache_dir() / f"{src_path.stem}-{tag}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    cmd = [cxx, "-O3", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}", str(src_path), "-o", tmp]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, out)  # atomic: concurrent builders (test workers) never see a partial file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def build_and_register(src_path: Path, targets: list[str], errors: list[str]) -> bool:
    """Compile ``src_path`` (cached), load it and register ``targets`` for the CPU platform.

    Returns False, with the reason appended to ``errors``, when disabled, without a compiler,
    or when the build or the load fails.
    """
    if os.environ.get("PROBINF_CPU_KERNELS", "1") == "0":
        errors.append("disabled by PROBINF_CPU_KERNELS=0")
        return False
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        errors.append("no C++ compiler found ($CXX, c++, g++, clang++)")
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(str(_compile(src_path, cxx)))
        for name in targets:
            if name in _REGISTERED:
                continue
            capsule = jax.ffi.pycapsule(getattr(lib, name))  # type: ignore[no-untyped-call]  # unannotated in jax
            jax.ffi.register_ffi_target(name, capsule, platform="cpu")
            _REGISTERED.append(name)
    except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as err:
        errors.append(f"{type(err).__name__}: {err}")
        return False
    return True
