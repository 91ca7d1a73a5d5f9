#!/usr/bin/env bash
# Sets up everything kokpit needs on a fresh machine, idempotently:
#   Debian packages, a Python virtualenv with kokpit and its dev tools, the Kubernetes, etcd, kwok and
#   containerd binaries built from the Go module proxy and the images real nodes run, all into
#   ~/.cache/kokpit (outside the repository).
# A second run only checks and returns in seconds.
#
#   scripts/setup.sh                     what the demo needs
#   scripts/setup.sh --for-tests         also the older Kubernetes and etcd releases upgrade tests run
#   scripts/setup.sh --upgrade-releases  only those older releases (scripts/test.sh builds them in the
#                                        background while the first tests run)
set -euo pipefail
for_tests=false
[[ ${1:-} == --for-tests ]] && for_tests=true
cd "$(dirname "$0")/.."

# Upgrade tests go from the previous minor to the current one (hosted clusters, machines) and across
# etcd minors (the etcd operator); the etcd one first, its tests come first.
build_upgrade_releases() {
  .venv/bin/kokpit binaries build --etcd-version v3.5.35
  .venv/bin/kokpit binaries build --kubernetes-version v1.35.4
}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- Debian packages ------------------------------------------------------------------------------
# The sandbox hosts run an sshd; their nodes use runc, the CNI plugins and iptables, and the test
# web image is made from the static busybox; a Pull member's firewall is an nftables table.
packages=(git ca-certificates curl procps iproute2 make
  openssh-server runc containernetworking-plugins busybox-static iptables conntrack nftables)
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- inotify instances ------------------------------------------------------------------------------
# Every API server, controller-manager and kwok of a sandbox watches files (certificates, kwok's
# container logs); a test session runs dozens at once, past the kernel's default of 128 instances
# per user (kind asks for the same raise).
if [[ $(id -u) -eq 0 && -w /proc/sys/fs/inotify/max_user_instances ]] &&
  (($(cat /proc/sys/fs/inotify/max_user_instances) < 1024)); then
  echo 1024 >/proc/sys/fs/inotify/max_user_instances
fi

# --- Go (builds the Kubernetes binaries) ----------------------------------------------------------
if ! command -v go >/dev/null; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    [[ -x $candidate/go ]] && export PATH="$candidate:$PATH"
  done
fi
if ! command -v go >/dev/null; then
  echo "kokpit: error: Go 1.21 or newer is needed to build the Kubernetes binaries (https://go.dev/dl); none found on PATH" >&2
  exit 1
fi

if [[ ${1:-} == --upgrade-releases ]]; then
  build_upgrade_releases
  exit
fi

# --- Python ---------------------------------------------------------------------------------------
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "kokpit: error: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.kokpit-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  say "installing kokpit and its Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# --- Kubernetes, etcd, kwok and containerd binaries, and the images nodes run ---------------------
say "checking the Kubernetes, etcd, kwok and containerd binaries"
.venv/bin/kokpit binaries build
if $for_tests; then
  build_upgrade_releases
fi
# The pause and web images real nodes import (made from Debian's static busybox, no registry).
.venv/bin/kokpit images build
