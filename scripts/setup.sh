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

# awscli: the real AWS CLI for the end-to-end tests. containerd, runc and
# the CNI plugins run task containers; iptables is what the portmap plugin
# drives; busybox-static is what test images are built from; skopeo pushes
# images to Berth's registry in the end-to-end tests.
pkgs=(awscli ca-certificates containerd runc containernetworking-plugins iptables busybox-static tini skopeo)
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

# containerd must be serving before the agent (or its tests) start: use
# systemd when it runs, otherwise start the daemon in the background.
start_containerd() {
  local sock=/run/containerd/containerd.sock
  if [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "setup: containerd is not running; start it as root (systemctl start containerd)" >&2
    return 0
  fi
  if [ -d /run/systemd/system ] && systemctl start containerd 2>/dev/null; then
    :
  else
    echo "setup: starting containerd in the background (log: /var/log/berth-containerd.log)"
    nohup containerd >>/var/log/berth-containerd.log 2>&1 &
  fi
  for _ in $(seq 1 100); do
    if ctr --address "$sock" version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "setup: containerd did not start; see /var/log/berth-containerd.log" >&2
  exit 1
}
start_containerd

go mod download
mkdir -p bin
go build -o bin/berth ./cmd/berth
echo "setup: built $(pwd)/bin/berth"
