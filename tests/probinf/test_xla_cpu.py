"""Tests of probinf/_xla_cpu.py: the samplers' per-compilation CPU options and their overrides."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probinf import _xla_cpu
from probinf.filtering import _pf_jit, particle_filter_core
from probinf.ssm import stochastic_volatility


@pytest.fixture
def fresh(monkeypatch):
    _xla_cpu.compiler_options.cache_clear()
    yield monkeypatch
    _xla_cpu.compiler_options.cache_clear()


def test_default_is_512_bit_vectors(fresh):
    fresh.delenv("PROBINF_XLA_CPU_VECTOR_WIDTH", raising=False)
    fresh.setenv("XLA_FLAGS", "")
    assert _xla_cpu.compiler_options() == {"xla_cpu_prefer_vector_width": 512}


@pytest.mark.parametrize("raw, expect", [("256", {"xla_cpu_prefer_vector_width": 256}), ("0", None),
                                         (" 128 ", {"xla_cpu_prefer_vector_width": 128})])
def test_environment_override(fresh, raw, expect):
    fresh.setenv("XLA_FLAGS", "")
    fresh.setenv("PROBINF_XLA_CPU_VECTOR_WIDTH", raw)
    assert _xla_cpu.compiler_options() == expect


def test_user_xla_flags_win(fresh):
    fresh.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=256")
    fresh.setenv("PROBINF_XLA_CPU_VECTOR_WIDTH", "512")
    assert _xla_cpu.compiler_options() is None


@pytest.mark.parametrize("raw", ["1024", "wide", "-1", ""])
def test_bad_width_is_a_clear_error(fresh, raw):
    fresh.setenv("XLA_FLAGS", "")
    fresh.setenv("PROBINF_XLA_CPU_VECTOR_WIDTH", raw)
    with pytest.raises(ValueError, match="PROBINF_XLA_CPU_VECTOR_WIDTH must be"):
        _xla_cpu.compiler_options()


def test_unknown_option_falls_back_to_none(fresh, monkeypatch):
    fresh.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(_xla_cpu, "_FLAG", "xla_cpu_no_such_option_probinf")
    assert _xla_cpu.compiler_options() is None


def test_filter_results_do_not_depend_on_the_vector_width():
    """The option changes code generation only: the same seed gives the same filter output bit for bit."""
    sv = stochastic_volatility()
    y = 0.5 * jax.random.normal(jax.random.key(3), (60,))
    static = ("model", "num_particles", "resampling", "ess_threshold", "proposal", "return_history")
    outs = []
    for opts in (None, {"xla_cpu_prefer_vector_width": 256}, {"xla_cpu_prefer_vector_width": 512}):
        f = jax.jit(particle_filter_core, static_argnames=static, compiler_options=opts)
        r = f(jax.random.key(0), sv, y, 2000)
        outs.append((np.asarray(r.log_evidence), np.asarray(r.filtering_means), np.asarray(r.ess)))
    for o in outs[1:]:
        for a, b in zip(outs[0], o, strict=True):
            np.testing.assert_array_equal(a, b)
    assert _pf_jit() is _pf_jit()  # built once per process
    assert jnp.isfinite(outs[0][0])
