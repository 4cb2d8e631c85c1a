#!/bin/sh
# Installs the Debian packages the tests run for real (redis-server, prometheus with
# promtool, postgresql), when missing.
# Run by `npm test` (pretest) and .ci/run. As root it installs them with apt-get
# (one `apt-get update`, then one install); otherwise it says what to install.
set -eu
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
# Debian keeps initdb and pg_ctl under /usr/lib/postgresql/<version>/bin, off PATH.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "loopgroup: installing Debian packages the tests use:$missing" >&2
  apt-get update -qq >/dev/null
  # A package's own service is not what the tests use: they start their own on
  # free loopback ports. Debian's policy-rc.d (exit 101: "action forbidden")
  # keeps the packages from starting theirs, so nothing needs stopping after;
  # nothing here stops a process by name (on a shared machine that would stop
  # other people's redis-server). An existing policy is left as it is.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  status=0
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || status=$?
  [ -n "$made_policy" ] && rm -f "$policy"
  exit "$status"
fi
echo "loopgroup: the tests need these Debian packages:$missing" >&2
echo "  install them with: sudo apt-get install -y$missing" >&2
exit 1
