#!/usr/bin/env bash
# Installs what Yun needs and is missing: Debian packages (as root, with apt-get) and the
# project's virtualenv. Safe to run again: it only installs what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have haproxy || need+=(haproxy)
have nginx || need+=(nginx)
have wrk || need+=(wrk)
have git || need+=(git)
have curl || need+=(curl)
have node || need+=(nodejs)
have npm || need+=(npm)
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# The built-in redis broker runs one redis-server per service instance.
have redis-server || need+=(redis-server)
# Containers, container networking and OCI images (the runc driver and the platform registry).
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
# Network policies, bound services and security groups: one nftables table of Yun's own.
have nft || need+=(nftables)
have skopeo || need+=(skopeo)
have umoci || need+=(umoci)
have docker-registry || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
# Stacks: Debian root filesystems that runc instances and stagings run on.
have mmdebstrap || need+=(mmdebstrap)
# `make test` only: the browser the dashboard's end-to-end tests drive (Playwright, Debian's
# Chromium rather than a browser downloaded from the internet).
if [ "${YUN_DEPS_FOR:-}" = test ]; then
  have chromium || need+=(chromium fonts-dejavu-core)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "yun: missing system packages: ${need[*]}" >&2
    echo "yun: run as root (or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "==> apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps package scripts from starting system-wide nginx/haproxy/postgresql/redis.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The OS's own Python, the one users have (Debian 12: 3.11.2), unless PYTHON names another.
PYTHON="${PYTHON:-/usr/bin/python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "yun: $PYTHON is $("$PYTHON" -V 2>&1); Yun needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 1
}
venv_python() { .venv/bin/python -c 'import sys; print(sys._base_executable)' 2>/dev/null; }
if [ -x .venv/bin/python ] && [ "$(venv_python)" != "$("$PYTHON" -c 'import sys; print(sys.executable)')" ]; then
  echo "==> .venv was made with $(venv_python), not $PYTHON: making it anew"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON ($("$PYTHON" -V 2>&1))"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import yun, pytest, mypy' >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "==> installing Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch .venv/.installed
fi

# The dashboard's and /docs' browser assets (uPlot, Swagger UI) from the npm registry, once per
# machine into a cache outside the repository (see src/yun/ui/assets.py).
.venv/bin/python -m yun.ui.assets
