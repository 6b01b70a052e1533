#!/usr/bin/env bash
# Every GPU figure of the kernels, then the GPU test selection; < 5 minutes on an H200.
#
# Usage, from the repository root (no install, no network, no pip):
#     PYTHONPATH=$PWD OUT=/some/dir bash benchmarks/gpu/run_gpu.sh
# Needs JAX with CUDA, torch (CUDA build) and pytest + hypothesis already installed.
# Writes under $OUT:
#     gpu_kernels.json / .md      resampling N = 1e7, 1e8 (every ancestor form, torch float64
#                                 cumsum + searchsorted, byte copy), token_logprobs (every path vs
#                                 naive), conformal-Bayes (XLA vs Pallas vs naive), mixture, and
#                                 what backend="auto" picks beside the fastest measured path
#     scaling_gpu.json            particle_filter with and without mesh= at N = 2^20, 2^24 on the device(s)
#     tests_gpu.xml / tests_gpu.log     the GPU test selection (JUnit XML and full log; the image's newer JAX
#                                 may deprecate APIs: shown, not failed, with -W default::DeprecationWarning)
#     run_gpu.log                 this script's own log
# Each step has its own time limit, so one slow step cannot eat the others' time.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="${PYTHONPATH:-$PWD}"
OUT="${OUT:-benchmarks/results/gpu_run}"
mkdir -p "$OUT"
export OUT
PY="${PYTHON:-python3}"
# CI-style quiet output; JAX must not grab all GPU memory up front (torch shares the device).
export PROBINF_PROGRESS=0 XLA_PYTHON_CLIENT_PREALLOCATE=false
exec > >(tee -a "$OUT/run_gpu.log") 2>&1

echo "== $(date -u +%FT%TZ) devices"
"$PY" -c "import jax, torch; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.is_available())"

status=0
echo "== $(date -u +%FT%TZ) kernel figures"
timeout 140 "$PY" benchmarks/gpu/gpu_kernels.py || { echo "gpu_kernels.py exited $?"; status=1; }

echo "== $(date -u +%FT%TZ) sharded vs plain particle filter on the device(s)"
timeout 120 "$PY" benchmarks/gpu/scaling_gpu.py || { echo "scaling_gpu.py exited $?"; status=1; }

echo "== $(date -u +%FT%TZ) GPU test selection"
timeout 170 "$PY" -m pytest -p no:cacheprovider -q -n 4 \
    tests/probinf_kernels tests/probinf/test_resampling.py tests/probinf/test_filtering.py \
    tests/probinf/test_compile_once.py -W default::DeprecationWarning \
    --junitxml="$OUT/tests_gpu.xml" -o junit_family=xunit2 >"$OUT/tests_gpu.log" 2>&1
rc=$?
tail -n 15 "$OUT/tests_gpu.log"
echo "pytest exited $rc"
[ "$rc" -eq 0 ] || status=1
echo "== $(date -u +%FT%TZ) done (status $status)"
exit $status
