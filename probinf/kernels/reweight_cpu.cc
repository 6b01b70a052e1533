// Reweighting with its weight summaries on the CPU as one XLA FFI call (see reweight_cpu.py).
//
// Per row of N log-weights lw0 and log-increments g (float32): lw = lw0 + g; lse = log sum exp(lw);
// outputs the normalized log-weights lw - lse, the weights w = exp(lw - lse), and (lse, ESS, valid)
// with ESS = (sum e)^2 / sum e^2.  Three linear passes (sum, max and checks; exp and sums;
// scaling), vectorized by the compiler for AVX-512 / AVX2 / baseline (target_clones), sums in
// double across blocks.  A NaN makes lse NaN, a +inf makes it +inf, all -inf makes it -inf (what
// jax.scipy.special.logsumexp gives); then valid = 0 and the weights, log-weights and ESS are NaN.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int64_t kLanes = 16;  // partial maxima and sums per lane (mapped onto vector registers)
constexpr int64_t kBlock = 1024;  // float partial sums over at most this many elements, then double

// exp(x) for x <= 0 (arguments lw - max): Cody-Waite reduction x = n ln2 + r, a degree-6
// polynomial for exp(r) (Cephes expf coefficients, ~1 ulp), and 2^n built from two halves so
// that n down to -149 (subnormal results) stays exact; below -103.3 the result is 0 (as in
// float32), -inf gives 0, NaN gives NaN.
inline float ExpNonPositive(float x) {
  const float xc = x < -103.0f ? -103.0f : x;
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni / 2;
  const int32_t n2 = ni - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23;
  const uint32_t b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1;
  float s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  y = y * s1 * s2;
  y = x < -103.0f ? 0.0f : y;
  return x != x ? x : y;
}

// lw = a + b; returns max(lw); flags: bit 0 some NaN, bit 1 some +inf.
__attribute__((target_clones("avx512f", "avx2", "default")))
float SumMaxChecks(const float* a, const float* b, float* lw, int64_t n, int* flags) {
  float m[kLanes];
  int nan[kLanes];
  int pinf[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) {
    m[j] = -INFINITY;
    nan[j] = 0;
    pinf[j] = 0;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) {
      const float v = a[i + j] + b[i + j];
      lw[i + j] = v;
      m[j] = v > m[j] ? v : m[j];
      nan[j] |= v != v;
      pinf[j] |= v == INFINITY;
    }
  }
  float mx = -INFINITY;
  int any_nan = 0;
  int any_pinf = 0;
  for (int64_t j = 0; j < kLanes; ++j) {
    mx = m[j] > mx ? m[j] : mx;
    any_nan |= nan[j];
    any_pinf |= pinf[j];
  }
  for (; i < n; ++i) {
    const float v = a[i] + b[i];
    lw[i] = v;
    mx = v > mx ? v : mx;
    any_nan |= v != v;
    any_pinf |= v == INFINITY;
  }
  *flags = any_nan | (any_pinf << 1);
  return mx;
}

// e = exp(lw - mx); returns sum e and sum e^2 (double).
__attribute__((target_clones("avx512f", "avx2", "default")))
void ExpSums(const float* lw, float mx, float* e, int64_t n, double* sum, double* sum_sq) {
  float s[kLanes];
  float q[kLanes];
  double ds = 0.0;
  double dq = 0.0;
  int64_t i = 0;
  while (i + kLanes <= n) {
    for (int64_t j = 0; j < kLanes; ++j) {
      s[j] = 0.0f;
      q[j] = 0.0f;
    }
    const int64_t full = i + (n - i) / kLanes * kLanes;
    const int64_t stop = full - i > kBlock ? i + kBlock : full;
    for (; i < stop; i += kLanes) {
      for (int64_t j = 0; j < kLanes; ++j) {
        const float v = ExpNonPositive(lw[i + j] - mx);
        e[i + j] = v;
        s[j] += v;
        q[j] += v * v;
      }
    }
    for (int64_t j = 0; j < kLanes; ++j) {
      ds += s[j];
      dq += q[j];
    }
  }
  for (; i < n; ++i) {
    const float v = ExpNonPositive(lw[i] - mx);
    e[i] = v;
    ds += v;
    dq += static_cast<double>(v) * v;
  }
  *sum = ds;
  *sum_sq = dq;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void Normalize(float* w, float* lw, int64_t n, float inv, float lse) {
  for (int64_t i = 0; i < n; ++i) {
    w[i] *= inv;
    lw[i] -= lse;
  }
}

void Row(const float* a, const float* b, int64_t n, float* lw, float* w, float* stats) {
  int flags = 0;
  const float mx = SumMaxChecks(a, b, lw, n, &flags);
  if (flags != 0 || !(mx > -INFINITY)) {  // NaN, +inf, or every weight zero: lse as logsumexp gives it
    stats[0] = (flags & 1) ? NAN : ((flags & 2) ? INFINITY : -INFINITY);
    stats[1] = NAN;
    stats[2] = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      lw[i] = NAN;
      w[i] = NAN;
    }
    return;
  }
  double sum = 0.0;
  double sum_sq = 0.0;
  ExpSums(lw, mx, w, n, &sum, &sum_sq);
  const float lse = mx + static_cast<float>(std::log(sum));
  Normalize(w, lw, n, static_cast<float>(1.0 / sum), lse);
  stats[0] = lse;
  stats[1] = static_cast<float>(sum * sum / sum_sq);
  stats[2] = 1.0f;
}

ffi::Error Reweight(ffi::Buffer<ffi::F32> lw0, ffi::Buffer<ffi::F32> g, ffi::ResultBuffer<ffi::F32> lw,
                    ffi::ResultBuffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> stats) {
  const int64_t n = lw0.dimensions().size() == 0 ? 1 : lw0.dimensions().back();
  if (n == 0) return ffi::Error::Success();
  const int64_t rows = static_cast<int64_t>(lw0.element_count()) / n;
  if (static_cast<int64_t>(g.element_count()) != rows * n || static_cast<int64_t>(stats->element_count()) != rows * 3) {
    return ffi::Error(ffi::ErrorCode::kInvalidArgument, "probinf reweight: shapes (..., N), (..., N) -> (..., 3)");
  }
  for (int64_t r = 0; r < rows; ++r) {
    Row(lw0.typed_data() + r * n, g.typed_data() + r * n, n, lw->typed_data() + r * n, w->typed_data() + r * n,
        stats->typed_data() + r * 3);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(probinf_reweight_f32, Reweight,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
