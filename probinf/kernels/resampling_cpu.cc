// Systematic resampling on the CPU as one XLA FFI call (see resampling_cpu.py).
//
// Inputs: non-negative weights v (..., N) in any scale (float32 or float64) and one
// uniform u in [0, 1) per row; output: M ancestor indices per row (int32).
// Slot k gets the first particle i with u + k < C_i, where C_i = M * (v_0 + ... + v_i) / total
// (the definition in probinf.resampling._systematic_u).  The prefix sums run in
// double precision, sequentially (what XLA on a CPU lacks: its prefix sums are
// tree-shaped and several times slower); the merge with the sorted points u + k is a
// branch-free linear pass.  Slots past the last prefix (rounding spill-over) go to the
// last particle with positive weight.
#include <cstdint>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

template <typename T>
void SystematicRow(const T* v, int64_t n, double u, int32_t* anc, int64_t m, std::vector<int32_t>& mark) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(v[i]);
  int64_t last = 0;
  for (int64_t i = n - 1; i >= 0; --i) {
    if (v[i] > 0) {
      last = i;
      break;
    }
  }
  const double scale = total > 0 ? static_cast<double>(m) / total : 0.0;
  // Branch-free merge (offspring counts are random, so a per-particle fill loop would
  // mispredict at every particle): particle i owns slots [cum_{i-1}, cum_i); it writes
  // its index at its first slot (a zero-count particle's write is overwritten by the
  // next particle, which starts at the same slot) and a running maximum fills the rest.
  mark.assign(static_cast<size_t>(m) + 1, -1);
  double acc = 0.0;  // the same sequence of sums as `total`, so the last prefix equals it
  int64_t prev = 0;
  const double dm = static_cast<double>(m);
  for (int64_t i = 0; i < n; ++i) {
    acc += static_cast<double>(v[i]);
    mark[prev] = static_cast<int32_t>(i);
    const double c = acc * scale - u;  // slots k with u + k < C_i: k < c
    int64_t cum = c > 0 ? static_cast<int64_t>(c < dm ? c : dm) : 0;  // false for NaN: no slots
    cum += (cum < m && static_cast<double>(cum) < c) ? 1 : 0;          // ceil, without libm
    prev = cum;
  }
  int32_t cur = 0;
  for (int64_t k = 0; k < prev; ++k) {
    cur = mark[k] > cur ? mark[k] : cur;
    anc[k] = cur;
  }
  for (int64_t k = prev; k < m; ++k) anc[k] = static_cast<int32_t>(last);  // rounding spill-over
}

template <ffi::DataType D>
ffi::Error Systematic(ffi::Buffer<D> v, ffi::Buffer<D> u, ffi::ResultBuffer<ffi::S32> anc) {
  const int64_t n = v.dimensions().back();
  const int64_t m = anc->dimensions().back();
  if (n == 0 || m == 0) return ffi::Error::Success();
  const int64_t rows = static_cast<int64_t>(v.element_count()) / n;
  if (static_cast<int64_t>(u.element_count()) != rows) {
    return ffi::Error(ffi::ErrorCode::kInvalidArgument, "probinf systematic: one uniform per row expected");
  }
  std::vector<int32_t> mark;
  for (int64_t r = 0; r < rows; ++r) {
    SystematicRow(v.typed_data() + r * n, n, static_cast<double>(u.typed_data()[r]), anc->typed_data() + r * m, m,
                  mark);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(probinf_systematic_f32, Systematic<ffi::F32>,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(probinf_systematic_f64, Systematic<ffi::F64>,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());
