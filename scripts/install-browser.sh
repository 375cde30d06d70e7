#!/usr/bin/env bash
# Installs the system Chromium the dashboard's browser test drives (playwright-core, no downloaded browser),
# from the distribution's packages (idempotent):
#   - nothing to do when /usr/bin/chromium is there;
#   - otherwise, as root or with passwordless sudo: apt-get update + apt-get install chromium.
# LIFECYCLE_SKIP_BROWSER=1 skips it. When it cannot install, it says why and carries on (the browser test
# then fails with the same reason), unless LIFECYCLE_REQUIRE_BROWSER=1, which makes that an error.
set -uo pipefail
CHROMIUM=/usr/bin/chromium

if [ "${LIFECYCLE_SKIP_BROWSER:-}" = "1" ]; then
  echo "chromium: skipped (LIFECYCLE_SKIP_BROWSER=1)"
  exit 0
fi
if [ -x "$CHROMIUM" ]; then
  echo "chromium: present ($("$CHROMIUM" --version 2>/dev/null | head -1))"
  exit 0
fi

give_up() {
  echo "chromium: not installed: $1" >&2
  echo "chromium: the dashboard browser test needs $CHROMIUM (Debian/Ubuntu: apt-get install chromium)" >&2
  [ "${LIFECYCLE_REQUIRE_BROWSER:-}" = "1" ] && exit 1
  exit 0
}

if [ "$(id -u)" = "0" ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  give_up "installing it needs root or passwordless sudo"
fi
command -v apt-get >/dev/null 2>&1 || give_up "no apt-get on this machine"

echo "chromium: installing from the distribution's packages (apt-get)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1; then
  tail -5 "$log" >&2
  give_up "apt-get update failed"
fi
if ! "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >"$log" 2>&1; then
  tail -5 "$log" >&2
  give_up "apt-get install chromium failed"
fi
[ -x "$CHROMIUM" ] || give_up "the chromium package did not provide $CHROMIUM"
echo "chromium: installed ($("$CHROMIUM" --version 2>/dev/null | head -1))"
