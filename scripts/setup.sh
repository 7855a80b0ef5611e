#!/usr/bin/env bash
# Installs what gpuslice needs on a fresh Debian 12 machine, then builds it.
# Idempotent and quiet when everything is already there. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(clang llvm libbpf-dev bpftool gcc make systemd pkg-config)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "gpuslice setup: missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "gpuslice setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: reinstall only when the lock file changed since the last install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "gpuslice setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || npm install --no-audit --no-fund --loglevel=error >/dev/null
fi

bash scripts/build.sh
