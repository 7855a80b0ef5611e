#!/usr/bin/env bash
# The interposer's cost on the simulated GPU (whose own cost is the baseline):
#  1. ns per cuLaunchKernel and per cuMemAlloc_v2+cuMemFree_v2, without and with
#     LD_PRELOAD=libgpuslice-vgpu.so, runs alternated in the same invocation;
#  2. end to end: gpuload with 100 µs kernels, each waited for (--stream-sync, so
#     every ns the interposer adds is on the critical path), and queued (async).
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

e2e() { # mode, args...: median kernels_per_s over the rounds
  local mode=$1; shift
  for ((i = 0; i < ROUNDS; i++)); do
    if [[ $mode == with ]]; then with full build/gpuload --json "$@"; else without build/gpuload --json "$@"; fi
  done | field kernels_per_s | median
}
s0=$(e2e without --kernel-us 100 --kernels 5000 --stream-sync); s1=$(e2e with --kernel-us 100 --kernels 5000 --stream-sync)
q0=$(e2e without --kernel-us 100 --kernels 20000); q1=$(e2e with --kernel-us 100 --kernels 20000)

awk -v l0="$l0" -v l1="$l1" -v a0="$a0" -v a1="$a1" -v s0="$s0" -v s1="$s1" -v q0="$q0" -v q1="$q1" -v r="$ROUNDS" 'BEGIN {
  printf "interposer cost on simgpu (median of %d rounds)\n", r
  printf "%-34s %12s %12s %10s %8s\n", "", "without", "with", "added", "ratio"
  printf "%-34s %10.1f ns %10.1f ns %7.1f ns %8.3f\n", "cuLaunchKernel", l0, l1, l1 - l0, l1 / l0
  printf "%-34s %10.1f ns %10.1f ns %7.1f ns %8.3f\n", "cuMemAlloc_v2 + cuMemFree_v2 (1M)", a0, a1, a1 - a0, a1 / a0
  printf "%-34s %9.1f k/s %9.1f k/s %9.2f %% \n", "100 us kernels, stream-synced", s0 / 1000, s1 / 1000, (s0 - s1) / s0 * 100
  printf "%-34s %9.1f k/s %9.1f k/s %9.2f %% \n", "100 us kernels, queued", q0 / 1000, q1 / 1000, (q0 - q1) / q0 * 100
}'
