#!/usr/bin/env bash
# Yun's instance launcher: the first process of every instance started from a droplet.
#
#   HOME=X/app DEPS_DIR=X/deps PORT=8080 [YUN_EXIT_FILE=F] bash launcher.sh 'COMMAND'
#
# It enters the app dir and sources, in this order, what buildpacks and the app left behind:
# $DEPS_DIR/<index>/profile.d/*.sh (by buildpack index), $HOME/.profile.d/*.sh, $HOME/.profile.
# Then it runs COMMAND with `bash -c`; the command's exit status is the launcher's. When
# YUN_EXIT_FILE is set, that status is also written to the file (atomically) before exiting,
# and SIGTERM/SIGHUP/SIGINT sent to the launcher alone are passed on to the command.

if [ "$#" -lt 1 ] || [ -z "$1" ]; then
  echo "usage: bash launcher.sh COMMAND" >&2
  exit 64
fi
yun_command=$1

if [ -z "${HOME:-}" ] || ! cd "$HOME"; then
  echo "launcher: cannot enter the app dir HOME=${HOME:-}" >&2
  exit 70
fi
if [ -z "${DEPS_DIR:-}" ]; then
  DEPS_DIR=$(dirname "$HOME")/deps
fi
export HOME DEPS_DIR

yun_index=0
while [ -d "$DEPS_DIR/$yun_index" ]; do
  for yun_script in "$DEPS_DIR/$yun_index"/profile.d/*.sh; do
    if [ -f "$yun_script" ]; then
      # shellcheck disable=SC1090
      . "$yun_script"
    fi
  done
  yun_index=$((yun_index + 1))
done
for yun_script in "$HOME"/.profile.d/*.sh; do
  if [ -f "$yun_script" ]; then
    # shellcheck disable=SC1090
    . "$yun_script"
  fi
done
if [ -f "$HOME/.profile" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.profile"
fi
cd "$HOME" || exit 70
unset yun_index yun_script

if [ -z "${YUN_EXIT_FILE:-}" ]; then
  exec bash -c "$yun_command"
fi

yun_exit_file=$YUN_EXIT_FILE
unset YUN_EXIT_FILE
bash -c "$yun_command" &
yun_child=$!
yun_forward() {
  kill -s "$1" "$yun_child" 2>/dev/null
}
trap 'yun_forward TERM' TERM
trap 'yun_forward HUP' HUP
# A background command ignores SIGINT in a non-interactive shell; ask it to stop with TERM.
trap 'yun_forward TERM' INT

while :; do
  wait "$yun_child"
  yun_status=$?
  # wait also returns (status > 128) when a trapped signal arrives while the child still runs.
  kill -0 "$yun_child" 2>/dev/null || break
done
# bash remembers a finished child's status; ask again in case a trap interrupted the last wait.
wait "$yun_child"
yun_final=$?
if [ "$yun_final" != 127 ]; then
  yun_status=$yun_final
fi
printf '%s\n' "$yun_status" >"$yun_exit_file.tmp" && mv -f "$yun_exit_file.tmp" "$yun_exit_file"
exit "$yun_status"
