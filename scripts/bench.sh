#!/usr/bin/env bash
# Benchmarks, by hand (not in the test suite): the device gate's open() latency
# against rule count, and the interposer's cost per call and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== device gate: open()+close() of an allowed device =="
node dist/bench/devgate-open.js
echo
echo "== vGPU interposer on simgpu =="
bash bench/interposer.sh "${1:-5}"
