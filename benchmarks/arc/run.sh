#!/usr/bin/env bash
# Full ARC builds with the README's ARC-AGI-1 and ARC-AGI-2 settings (aug
# 1000, seed 42), in trm's own streams and in --compat numpy: wall time, CPU
# time and peak RSS from GNU time, then `trm verify`. The machine's load is
# printed first: on a shared machine wall times mean little without it.
#
#   benchmarks/arc/run.sh                # data from ../shared/data/arc
#   ARC_PREFIX=path/arc-agi OUT=/tmp/b benchmarks/arc/run.sh
#   KEEP=1 ...                            # keep the datasets (6 in all)
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=${ARC_PREFIX:-../shared/data/arc/arc-agi}
out=${OUT:-data/bench-arc}
mkdir -p "$out"
go build -o "$out/trm" ./cmd/trm

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
build() {
  local name=$1; shift
  /usr/bin/time -f "$name: wall %e s, user %U s, sys %S s, peak RSS %M KiB" \
    "$out/trm" build arc -q --input-prefix "$prefix" --out "$out/$name" --force "$@" \
    2> >(grep -v 'augmentation not full' >&2)
  "$out/trm" verify -q "$out/$name"
  [ -n "${KEEP:-}" ] || rm -rf "${out:?}/$name"
}
build arc1 --subsets training,evaluation,concept --test-set evaluation
build arc2 --subsets training2,evaluation2,concept --test-set evaluation2
build arc1-numpy --compat numpy --subsets training,evaluation,concept --test-set evaluation
build arc2-numpy --compat numpy --subsets training2,evaluation2,concept --test-set evaluation2
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
