#!/usr/bin/env bash
# Builds the TypeScript (tsc → dist/) and the C and BPF parts (make → build/).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j2
npx tsc -p .
chmod +x dist/src/cli.js 2>/dev/null || true
