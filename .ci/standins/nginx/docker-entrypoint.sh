#!/usr/bin/env bash
# Entrypoint of the nginx:1.27-alpine stand-in (see Dockerfile). Like the official one, it runs
# the executable /docker-entrypoint.d/*.sh scripts before starting nginx (none ship here).
#
# The official image has the stream (TCP) module built in, so a configuration may use
# `stream {}` without `load_module`; Debian builds it as a dynamic module. So that the same
# configuration works here, the module is loaded through -g (parsed before the file).
set -eo pipefail

if [[ $1 == nginx || $1 == nginx-debug ]]; then
  for f in /docker-entrypoint.d/*.sh; do
    if [[ -x $f ]]; then
      echo "$0: running $f"
      "$f"
    fi
  done
  stream=/usr/lib/nginx/modules/ngx_stream_module.so
  args=("$1")
  shift
  globals="load_module $stream;"
  while (($#)); do
    if [[ $1 == -g && $# -ge 2 ]]; then
      globals="$globals $2"
      shift 2
    else
      args+=("$1")
      shift
    fi
  done
  set -- "${args[@]}" -g "$globals"
fi

exec "$@"
