#!/usr/bin/env bash
# Start nginx for a static app in the foreground (Yun static buildpack's runtime script).
#
# Renders nginx.conf from $PORT (and VCAP_APP_HOST, default 127.0.0.1) into $HOME/.yun-nginx,
# where nginx also keeps its pid and temp files; the access log goes to stdout, errors to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=/dev/null
. "$here/nginx/settings.sh"
: "${PORT:?PORT must be set}"
: "${HOME:?HOME must be the app folder}"

host=${VCAP_APP_HOST:-127.0.0.1}
if [[ $host == *:* ]]; then
  host="[$host]"
fi
root="$HOME"
if [ -n "$YUN_STATIC_ROOT" ]; then
  root="$HOME/$YUN_STATIC_ROOT"
fi
run="$HOME/.yun-nginx"
mkdir -p "$run/tmp" "$run/logs"

user_line=""
if [ "$(id -u)" = 0 ]; then
  # As root, nginx would hand the workers to `nobody`, who may not read the app's folders.
  user_line="user root $(id -gn);"
fi
fallback='=404'
if [ "$YUN_STATIC_PUSHSTATE" = on ]; then
  fallback='/index.html'
fi

cat >"$run/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $run/nginx.pid;
error_log stderr;
events {
  worker_connections 1024;
}
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /dev/stdout;
  client_body_temp_path $run/tmp/client_body;
  proxy_temp_path $run/tmp/proxy;
  fastcgi_temp_path $run/tmp/fastcgi;
  uwsgi_temp_path $run/tmp/uwsgi;
  scgi_temp_path $run/tmp/scgi;
  sendfile on;
  keepalive_timeout 65;
  server_tokens off;
  server {
    listen $host:$PORT;
    root $root;
    index index.html index.htm;
    autoindex $YUN_STATIC_AUTOINDEX;
    location ~ /\.(?!well-known/) {
      return 404;
    }
    location ~ ^/(Staticfile|Procfile|manifest\.ya?ml)\$ {
      return 404;
    }
    location / {
      try_files \$uri \$uri/ $fallback;
    }
  }
}
CONF
exec "$YUN_NGINX" -p "$run/" -c "$run/nginx.conf" -e stderr -g 'daemon off;'
