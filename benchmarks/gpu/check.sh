#!/usr/bin/env bash
# Runs `trm gpu check`, `trm bench loader --gpu` (batches into pinned memory
# and onto the device), when carried the package's GPU tests, and last
# `trm bench train device=cuda` on a machine with an NVIDIA GPU but no Go
# toolchain, writing everything to $OUT (default benchmarks/out/gpu).
#
# Build both binaries on any Linux x86-64 machine with Go, at the repo root
# (both names are git-ignored, so they must be carried; -s -w strips debug
# information (trm: 56 MB -> 39 MB at this writing), so that the carry stays under
# the device tool's 64 MiB):
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -ldflags='-s -w' -o trm ./cmd/trm
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go test -c -ldflags='-s -w' -o cuda.test ./kernels/cuda
# With the device tool, carry them and run this script, e.g.
#   run(command="bash benchmarks/gpu/check.sh", carry=["trm", "cuda.test"], timeout_s=480)
# It comes back as $OUT/gpu-check.txt, $OUT/gpu-loader.txt, $OUT/gpu-train.txt
# (`trm bench train device=cuda` beside PyTorch on the same GPU, then with
# gpu_tf32=True),
# $OUT/gpu-tests.txt, $OUT/env.txt. Each step is killed 10 s after its time
# limit (a GPU stuck in a kernel ignores the polite signal). REHEARSE=1 rehearses the script
# against the fake driver of internal/fakecuda (LD_LIBRARY_PATH at the
# directory fakecuda.Build wrote): it leaves out the timed GEMMs, far too
# slow on the fake's host loops.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"

{
  date -u
  uname -a
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcublas|libnvrtc' || true
} >"$OUT/env.txt" 2>&1

# The kernel cache goes to /tmp: $OUT returns only a few files.
export XDG_CACHE_HOME=/tmp/trm-cache
check_args=() bench=GPU
if [ -n "${REHEARSE:-}" ]; then
  check_args=(--no-bench) bench='GPU(Launch|Copy)'
fi
rc=0
if [ -x ./trm ]; then
  timeout -k 10 240 ./trm gpu check "${check_args[@]}" 2>&1 | tee "$OUT/gpu-check.txt"
  rc=${PIPESTATUS[0]}
else
  echo "no ./trm binary: build it with CGO_ENABLED=0 and carry it (see the top of $0)" | tee "$OUT/gpu-check.txt"
  rc=2
fi
if [ -x ./trm ]; then
  # Smaller generated sets than the default: a minute, not five.
  timeout -k 10 150 ./trm bench loader --gpu --arc-rows 20000 --sudoku-rows 200000 --rounds 3 2>&1 | tee "$OUT/gpu-loader.txt"
  lrc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$lrc
fi
if [ -x ./cuda.test ]; then
  # The test binary embeds the kernels; -test.short skips the long TestGPUCheck
  # (the command above already ran the full check). The TestFakeGPU* tests
  # need no GPU, so they are left to CI rather than spend device time. The
  # benchmarks run on their own: after a failed test, go test runs none.
  (
    cd kernels/cuda || exit 2
    timeout -k 10 150 ../../cuda.test -test.v -test.short -test.run '^Test(GPU|NVRTC|KernelCache)'
    t=$?
    timeout -k 10 100 ../../cuda.test -test.run '^$' -test.bench "$bench" -test.benchtime 10x
    b=$?
    [ "$t" -ne 0 ] && exit "$t"
    exit "$b"
  ) 2>&1 | tee "$OUT/gpu-tests.txt"
  trc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$trc
fi
if [ -x ./trm ]; then
  # Training throughput on the GPU backend beside PyTorch's port of the
  # reference on the same GPU (torch_trm.py --device cuda), both variants at
  # the paper's Sudoku size (hidden 512, 8 heads, batch 768; fp32 both).
  # REHEARSE: a tiny model.
  model=(arch.hidden_size=512 arch.num_heads=8 global_batch_size=768)
  [ -n "${REHEARSE:-}" ] && model=(arch.hidden_size=32 arch.num_heads=2 arch.L_cycles=1 arch.halt_max_steps=4 global_batch_size=4)
  timeout -k 10 180 ./trm bench train device=cuda "${model[@]}" --steps 3 --rounds 1 2>&1 | tee "$OUT/gpu-train.txt"
  brc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$brc
  # The same with the GEMMs in TF32 on the tensor cores (gpu_tf32=True).
  timeout -k 10 120 ./trm bench train device=cuda gpu_tf32=True "${model[@]}" --variants mlp_t --steps 3 --rounds 1 --torch "" 2>&1 | tee -a "$OUT/gpu-train.txt"
  brc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$brc
fi
exit "$rc"
