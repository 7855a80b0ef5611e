#!/usr/bin/env bash
# The interposer's cost on the simulated GPU (whose own cost is the baseline):
#  1. ns per cuLaunchKernel and per cuMemAlloc_v2+cuMemFree_v2, without and with
#     LD_PRELOAD=libgpuslice-vgpu.so, runs alternated in the same invocation;
#  2. end to end: gpuload with 100 µs kernels, each waited for (--stream-sync, so
#     every ns the interposer adds is on the critical path), and queued (async);
#     the overhead is the median of the rounds' own (each round runs both).
# The container is under its limits (memory 4 GiB, share 50% for the call loop,
# 100% end to end) so the numbers are the cost of enforcement when it does not bite.
# Usage: bench/interposer.sh [ROUNDS]   (needs make and the TypeScript build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
for f in build/libgpuslice-vgpu.so build/interposer-bench build/gpuload dist/src/vgpu/ledger.js; do
  [[ -e $f ]] || { echo "missing $f: run scripts/build.sh" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/gs-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/simgpu/dev"
printf 'count=1\nmemory=17179869184\n' >"$dir/simgpu/config"
: >"$dir/simgpu/dev/nvidia0"
node --input-type=module -e "
import { writeLimits, initUsage } from '$PWD/dist/src/vgpu/ledger.js';
const G = 2 ** 30;
await writeLimits('$dir/half', { devices: [{ memoryBytes: 4 * G, computeShare: 0.5 }] });
await writeLimits('$dir/full', { devices: [{ memoryBytes: 4 * G, computeShare: 1 }] });
await initUsage('$dir/half'); await initUsage('$dir/full');"

base=(env SIMGPU_DIR="$dir/simgpu" LD_LIBRARY_PATH="$PWD/build/simgpu" GPUSLICE_VGPU_LOG=1)
with() { "${base[@]}" LD_PRELOAD="$PWD/build/libgpuslice-vgpu.so" GPUSLICE_LEDGER="$dir/$1" "${@:2}"; }
without() { "${base[@]}" "$@"; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }

: >"$dir/w"; : >"$dir/wo"
for ((i = 0; i < ROUNDS; i++)); do
  without build/interposer-bench >>"$dir/wo"
  with half build/interposer-bench >>"$dir/w"
done
l0=$(field launch_ns <"$dir/wo" | median); l1=$(field launch_ns <"$dir/w" | median)
a0=$(field alloc_free_ns <"$dir/wo" | median); a1=$(field alloc_free_ns <"$dir/w" | median)

# end to end: without and with alternate in each round (this VM drifts over
# seconds); each round gives the overhead of its pair, and the median of
# those is reported beside the medians of the rates
e2e() { # tag, args...: writes $dir/<tag>.0, .1 (rates) and .pct (overheads)
  local tag=$1; shift
  : >"$dir/$tag.0"; : >"$dir/$tag.1"
  for ((i = 0; i < ROUNDS; i++)); do
    without build/gpuload --json "$@" | field kernels_per_s >>"$dir/$tag.0"
    with full build/gpuload --json "$@" | field kernels_per_s >>"$dir/$tag.1"
  done
  paste "$dir/$tag.0" "$dir/$tag.1" | awk '{ print ($1 - $2) / $1 * 100 }' >"$dir/$tag.pct"
}
e2e sync --kernel-us 100 --kernels 5000 --stream-sync
e2e queued --kernel-us 100 --kernels 20000
s0=$(median <"$dir/sync.0"); s1=$(median <"$dir/sync.1"); sp=$(median <"$dir/sync.pct")
q0=$(median <"$dir/queued.0"); q1=$(median <"$dir/queued.1"); qp=$(median <"$dir/queued.pct")
spread() { sort -g "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f..%.2f", lo, hi }'; }
ss=$(spread "$dir/sync.pct"); qs=$(spread "$dir/queued.pct")

awk -v l0="$l0" -v l1="$l1" -v a0="$a0" -v a1="$a1" -v s0="$s0" -v s1="$s1" -v q0="$q0" -v q1="$q1" \
  -v sp="$sp" -v qp="$qp" -v ss="$ss" -v qs="$qs" -v r="$ROUNDS" 'BEGIN {
  printf "interposer cost on simgpu (median of %d rounds)\n", r
  printf "%-34s %12s %12s %10s %8s\n", "", "without", "with", "added", "ratio"
  printf "%-34s %10.1f ns %10.1f ns %7.1f ns %8.3f\n", "cuLaunchKernel", l0, l1, l1 - l0, l1 / l0
  printf "%-34s %10.1f ns %10.1f ns %7.1f ns %8.3f\n", "cuMemAlloc_v2 + cuMemFree_v2 (1M)", a0, a1, a1 - a0, a1 / a0
  printf "%-34s %9.1f k/s %9.1f k/s %9.2f %%  (rounds: %s %%)\n", "100 us kernels, stream-synced", s0 / 1000, s1 / 1000, sp, ss
  printf "%-34s %9.1f k/s %9.1f k/s %9.2f %%  (rounds: %s %%)\n", "100 us kernels, queued", q0 / 1000, q1 / 1000, qp, qs
}'
