#!/usr/bin/env bash
# `make up`: start the platform in the background (unless it runs already), log in as admin,
# push examples/hello-python, and print its URL and the answer of a first request.
set -euo pipefail
cd "$(dirname "$0")/.."
YUN=.venv/bin/yun
# The platform's own default: /var/lib/yun as root, ~/.local/share/yun for a user.
export YUN_HOME="${YUN_HOME:-$(.venv/bin/python -c 'from yun.settings import Settings; print(Settings.from_env().home)')}"
API="http://127.0.0.1:${YUN_API_PORT:-7070}"
mkdir -p "$YUN_HOME"

if ! curl -fsS "$API/v3/info" >/dev/null 2>&1; then
  echo "==> starting yun server (log: $YUN_HOME/server.log)"
  setsid nohup "$YUN" server >>"$YUN_HOME/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    curl -fsS "$API/v3/info" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "$API/v3/info" >/dev/null || { tail -20 "$YUN_HOME/server.log"; exit 1; }
fi

if [ -n "${YUN_ADMIN_PASSWORD:-}" ]; then
  "$YUN" login -a "$API" -u admin -p "$YUN_ADMIN_PASSWORD"
elif [ -f "$YUN_HOME/initial-admin-password" ]; then
  "$YUN" login -a "$API" -u admin -p "$(cat "$YUN_HOME/initial-admin-password")"
elif ! "$YUN" apps >/dev/null 2>&1; then
  # A restored platform (`yun restore`) keeps its users and their passwords.
  echo "==> $YUN_HOME has no initial-admin-password (its users came with a restore):" >&2
  echo "    log in with \`$YUN login -a $API -u admin\`, or set YUN_ADMIN_PASSWORD, then run make up again" >&2
  exit 1
fi
"$YUN" push -p examples/hello-python
host="hello-python.${YUN_DOMAIN:-apps.localhost}"
url="http://$host:${YUN_ROUTER_PORT:-8080}/"
echo
echo "==> $url"
curl -fsS --resolve "$host:${YUN_ROUTER_PORT:-8080}:127.0.0.1" "$url"
echo
https_port="${YUN_ROUTER_HTTPS_PORT:-8443}"
if [ "$https_port" != 0 ]; then
  echo "==> https://$host:$https_port/ (trust the platform CA: $YUN ca > yun-ca.pem)"
fi
