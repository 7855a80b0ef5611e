#!/usr/bin/env bash
# The test command of the README: set-up, build, then every node:test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Node 20's --test takes files, not globs
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=1 "$@" "${files[@]}"
