"""token_logprobs: every backend against a float64 log-softmax reference (hypothesis), extreme values,
dtypes, shapes and bad input.  Tolerance: float32 results within 1e-5 * (1 + |ref|) of the float64
reference (one rounding of the logsumexp and one of the subtraction, both relative to |ref| + O(1));
half-precision inputs are upcast exactly, so the same bound holds against the reference of the
upcast values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import log_softmax

from probinf._compat import enable_x64
from probinf.kernels import token_logprobs
from probinf.kernels._device import jax_has_gpu
from probinf.kernels.token_logprobs import TOKEN_LOGPROBS_BACKENDS

torch = pytest.importorskip("torch")


def ref64(logits, ids):
    """Float64 log-softmax gathered at ids; rows holding +inf give NaN (torch/JAX convention)."""
    z = np.asarray(logits, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lp = log_softmax(z, axis=-1) if z.shape[-1] else z
    out = np.take_along_axis(lp, np.asarray(ids)[..., None], axis=-1)[..., 0]
    return np.where(np.isposinf(z).any(-1), np.nan, out)


def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    assert (nan_a == nan_b).all(), (a, b)
    fin = np.isfinite(b) & ~nan_b
    assert (a[~fin & ~nan_b] == b[~fin & ~nan_b]).all()
    np.testing.assert_array_less(np.abs(a[fin] - b[fin]), 1e-5 * (1 + np.abs(b[fin])) + 1e-30)


@st.composite
def logits_and_ids(draw):
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2).map(tuple))
    V = draw(st.integers(1, 70))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 700.0]))
    z = draw(hnp.arrays(np.float32, lead + (V,), elements=st.floats(-1, 1, width=32))) * np.float32(scale)
    ids = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, V - 1)))
    return z, ids


@given(logits_and_ids(), st.integers(1, 40), st.integers(1, 7),
       st.sampled_from(["auto", "cpu", "chunked", "reference"]))
def test_torch_backends_match_float64_reference(data, chunk, block_rows, backend):
    z, ids = data
    out = token_logprobs(torch.from_numpy(z), torch.from_numpy(ids), backend=backend, chunk_size=chunk,
                         block_rows=block_rows)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == ids.shape
    close(out.numpy(), ref64(z, ids))


@settings(max_examples=12)  # each new shape is a new XLA compilation
@given(logits_and_ids(), st.sampled_from(["auto", "cpu", "chunked", "reference"]))
def test_jax_backends_match_float64_reference(data, backend):
    z, ids = data
    out = token_logprobs(z, ids, backend=backend)
    assert np.asarray(out).shape == ids.shape and np.asarray(out).dtype == np.float32
    close(out, ref64(z, ids))


@settings(max_examples=8)  # interpreter mode: every shape is a new (slow) trace
@given(logits_and_ids())
def test_pallas_interpret_matches_float64_reference(data):
    z, ids = data
    out = token_logprobs(z, ids, backend="pallas", interpret=True)
    assert np.asarray(out).shape == ids.shape
    close(out, ref64(z, ids))


@st.composite
def extreme_logits_and_ids(draw):
    """Small logits with -1e30, +-700, -inf entries mixed into ordinary values (at least one finite per row)."""
    R, V = draw(st.sampled_from([(3, 5), (17, 9)]))
    el = st.one_of(st.floats(-5, 5, width=32), st.sampled_from([-1e30, -700.0, 700.0, -np.inf]))
    z = draw(hnp.arrays(np.float32, (R, V), elements=el))
    z[:, 0] = np.where(np.isfinite(z[:, 0]), z[:, 0], 0.0)
    ids = draw(hnp.arrays(np.int64, (R,), elements=st.integers(0, V - 1)))
    return z, ids


@settings(max_examples=6, deadline=None)  # interpreter mode: few examples, two shapes
@given(extreme_logits_and_ids())
def test_pallas_interpret_extreme_values_property(data):
    z, ids = data
    close(token_logprobs(z, ids, backend="pallas", interpret=True), ref64(z, ids))


def test_pallas_interpret_outlier_in_a_later_vocabulary_block():
    """One huge logit in the third vocabulary block (block_v = 1024): the others must be about -1e4,
    not -inf (a block combine without rescaling to the running max underflows)."""
    V = 2500
    z = np.zeros((3, V), np.float32)
    z[:, 2100] = 1e4
    ids = np.array([5, 2100, 2499])
    out = np.asarray(token_logprobs(z, ids, backend="pallas", interpret=True))
    assert np.all(np.isfinite(out))
    close(out, ref64(z, ids))


@pytest.mark.skipif(jax_has_gpu(), reason="checks the error raised when JAX sees no GPU")
def test_pallas_without_gpu_is_a_clear_error():
    from probinf.kernels import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="interpret=True"):
        token_logprobs(np.zeros((2, 5), np.float32), np.zeros(2, int), backend="pallas")


def test_pallas_refuses_torch_tensors():
    with pytest.raises(ValueError, match="JAX/NumPy logits"):
        token_logprobs(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), backend="pallas")


# The Pallas kernel takes JAX/NumPy arrays only (torch input is a clear error, tested above).
@pytest.mark.parametrize(
    "backend, kind",
    [(b, k) for b in ["cpu", "chunked", "reference", "pallas"] for k in ["torch", "jax"]
     if not (b == "pallas" and k == "torch")],
)
def test_extreme_values(backend, kind):
    z = np.array(
        [
            [0.0, -1e30, 5.0, 700.0],       # huge spread
            [-700.0, -700.0, -700.0, -700.0],  # uniform at very negative level
            [-np.inf, 1.0, 2.0, -np.inf],   # masked vocabulary entries
            [-np.inf, -np.inf, -np.inf, -np.inf],  # no distribution -> NaN
            [np.inf, 0.0, 0.0, 0.0],        # +inf -> NaN
            [np.nan, 0.0, 0.0, 0.0],        # NaN propagates
            [1e30, 1e30, 0.0, 0.0],         # float32-max-ish ties
        ],
        dtype=np.float32,
    )
    ids = np.array([3, 2, 0, 1, 1, 2, 0])
    want = ref64(z, ids)
    assert np.isneginf(want[2]) and np.isnan(want[3]) and np.isnan(want[4]) and np.isnan(want[5])
    got = token_logprobs(torch.from_numpy(z), torch.from_numpy(ids), backend=backend, chunk_size=2,
                         block_rows=3).numpy() \
        if kind == "torch" else np.asarray(token_logprobs(z, ids, backend=backend, interpret=True))
    close(got, want)
    assert got[6] == pytest.approx(np.log(0.5), abs=1e-6)


@pytest.mark.parametrize("backend", ["cpu", "chunked"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtypes(dtype, backend):
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(3, 5, 257, generator=g) * 8).to(getattr(torch, dtype))
    ids = torch.randint(0, 257, (3, 5), generator=g)
    out = token_logprobs(z, ids, backend=backend, chunk_size=64, block_rows=4)
    assert out.dtype == (torch.float64 if dtype == "float64" else torch.float32)
    close(out.double().numpy(), ref64(z.double().numpy(), ids.numpy()))


def test_float64_jax_input_stays_float64():

    with enable_x64(True):
        z = np.random.default_rng(0).normal(size=(4, 9))
        out = token_logprobs(z, np.arange(4))
        assert np.asarray(out).dtype == np.float64
        np.testing.assert_allclose(np.asarray(out), ref64(z, np.arange(4)), rtol=1e-12)


def test_negative_control_wrong_normaliser_is_caught():
    """The comparison would catch an off-by-one gather (scoring the next position's token)."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 6, 50, generator=g)
    ids = torch.randint(0, 50, (2, 6), generator=g)
    good = token_logprobs(z, ids)
    shifted = token_logprobs(z[:, 1:], ids[:, :-1])  # the llama.cpp-style off-by-one
    close(good.numpy(), ref64(z.numpy(), ids.numpy()))
    with pytest.raises(AssertionError):
        close(shifted.numpy(), ref64(z.numpy()[:, :-1], ids.numpy()[:, :-1]))


def test_empty_and_bad_input():
    assert token_logprobs(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)).shape == (0,)
    assert np.asarray(token_logprobs(np.zeros((2, 0, 5)), np.zeros((2, 0), int))).shape == (2, 0)
    with pytest.raises(ValueError, match="shape"):
        token_logprobs(torch.zeros(2, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        token_logprobs(torch.zeros(2, 5), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        token_logprobs(np.zeros((2, 5)), np.array([-1, 0]))
    with pytest.raises(TypeError, match="integers"):
        token_logprobs(torch.zeros(2, 5), torch.zeros(2))
    with pytest.raises(TypeError, match="floating"):
        token_logprobs(np.zeros((2, 5), int), np.zeros(2, int))
    with pytest.raises(ValueError, match="backend"):
        token_logprobs(np.zeros((2, 5)), np.zeros(2, int), backend="triton")
    got = token_logprobs(np.zeros((0, 5), np.float32), np.zeros(0, int), backend="pallas", interpret=True)
    assert np.asarray(got).shape == (0,)
    with pytest.raises(ValueError, match="block_rows"):
        token_logprobs(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), block_rows=0)
    with pytest.raises(ValueError, match="chunk_size"):
        token_logprobs(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), chunk_size=0)
    assert "reference" in TOKEN_LOGPROBS_BACKENDS
