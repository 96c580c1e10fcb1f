#!/usr/bin/env bash
# Installs what Berth and its tests need on a Debian machine (as root) and
# builds the berth binary into ./bin. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go="1.26"
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go $need_go or newer is required (expected at /usr/local/go/bin/go)" >&2
  exit 1
fi

pkgs=(awscli ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go mod download
mkdir -p bin
go build -o bin/berth ./cmd/berth
echo "setup: built $(pwd)/bin/berth"
