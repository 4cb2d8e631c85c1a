#!/bin/sh
# Installs the Debian packages the tests run for real (redis-server, prometheus with
# promtool), when missing.
# Run by `npm test` (pretest) and .ci/run. As root it installs them with apt-get
# (one `apt-get update`, then one install); otherwise it says what to install.
set -eu
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "loopgroup: installing Debian packages the tests use:$missing" >&2
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  # A package's own service is not what the tests use: they start their own on free loopback ports.
  for service in $missing; do
    (service "$service" stop || pkill -x "$service") >/dev/null 2>&1 || true
  done
  exit 0
fi
echo "loopgroup: the tests need these Debian packages:$missing" >&2
echo "  install them with: sudo apt-get install -y$missing" >&2
exit 1
