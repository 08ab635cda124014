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
# It comes back as $OUT/gpu-check.txt, $OUT/gpu-loader.txt, $OUT/gpu-ddp.txt
# (a data-parallel job of two on the GPU against one process), $OUT/gpu-train.txt
# (`trm bench train device=cuda` beside PyTorch on the same GPU, with the
# matrix products in bf16 as forward_dtype says by default, then in fp32),
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
  # A data-parallel job of two processes sharing GPU 0 (as torchrun would
  # start them, with LOCAL_RANK=0 for both) against one GPU process: the
  # losses of the first steps must agree to float32 rounding (fp32 GEMMs,
  # so that only the data parallelism is on trial).
  (
    d=/tmp/trm-ddp && rm -rf "$d" && mkdir -p "$d" || exit 2
    ./trm build maze -q --generate 256 --generate-test 32 --size 9 --out "$d/maze" >/dev/null || exit 2
    size=(arch.hidden_size=64 global_batch_size=64)
    [ -n "${REHEARSE:-}" ] && size=(arch.hidden_size=32 global_batch_size=8 arch.L_cycles=1 arch.halt_max_steps=4)
    args=(train -q --stop-at 5 device=cuda arch.forward_dtype=float32 "data_paths=[$d/maze]" evaluators=[] arch.num_heads=2 "${size[@]}"
      arch.halt_exploration_prob=0 lr=1e-3 lr_warmup_steps=0)
    timeout -k 10 60 ./trm "${args[@]}" checkpoint_path="$d/one" >/dev/null || exit 2
    port=$((20000 + RANDOM % 20000))
    for r in 0 1; do
      WORLD_SIZE=2 RANK=$r LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout -k 10 60 ./trm "${args[@]}" checkpoint_path="$d/two" >/dev/null &
    done
    wait -n && wait -n || exit 2
    python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
loss = lambda run: [json.loads(l).get("train/lm_loss") for l in open(f"{d}/{run}/metrics.jsonl")]
one, two = loss("one"), loss("two")
print("lm_loss, one GPU process:", one)
print("lm_loss, a job of two:   ", two)
ok = len(one) == len(two) == 5 and all(abs(a - b) <= 1e-5 * abs(a) for a, b in zip(one, two))
print("agree within 1e-5:", ok)
sys.exit(0 if ok else 1)
PY
  ) 2>&1 | tee "$OUT/gpu-ddp.txt"
  drc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$drc
  # Training throughput on the GPU backend beside PyTorch's port of the
  # reference on the same GPU (torch_trm.py --device cuda), both variants at
  # the paper's Sudoku size (hidden 512, 8 heads, batch 768), with the
  # matrix products in bf16 (forward_dtype's default; PyTorch under
  # autocast). REHEARSE: a tiny model.
  model=(arch.hidden_size=512 arch.num_heads=8 global_batch_size=768)
  [ -n "${REHEARSE:-}" ] && model=(arch.hidden_size=32 arch.num_heads=2 arch.L_cycles=1 arch.halt_max_steps=4 global_batch_size=4)
  timeout -k 10 180 ./trm bench train device=cuda "${model[@]}" --steps 3 --rounds 1 2>&1 | tee "$OUT/gpu-train.txt"
  brc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$brc
  # The same in full fp32 (forward_dtype=float32), both sides. TF32 stands
  # between the two; the GEMM rates of all three are in gpu-check.txt.
  timeout -k 10 120 ./trm bench train device=cuda arch.forward_dtype=float32 "${model[@]}" --variants attention --steps 3 --rounds 1 2>&1 | tee -a "$OUT/gpu-train.txt"
  brc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && rc=$brc
fi
exit "$rc"
