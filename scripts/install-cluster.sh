#!/usr/bin/env bash
# Installs what `npm run start:cluster` and the cluster test layer run, into .local/cluster/ (idempotent):
#   - temporal-server and temporal-sql-tool, built from the Go module proxy (go.temporal.io/server), with
#     the module's schema/postgresql/v12 files beside them;
#   - the Temporal Web UI server, built from github.com/temporalio/ui-server/v2;
#   - PostgreSQL 15 and HAProxy from Debian's packages (apt-get, only when missing; needs root).
# FerretDB is the project's own build (scripts/install-ferretdb.sh): it has the PostgreSQL backend too.
# The versions here are the ones docker-compose.yml pins (test/unit/cluster-shape.test.ts checks that).
# Set LIFECYCLE_SKIP_CLUSTER=1 (or LIFECYCLE_SKIP_SERVERS=1) to skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${LIFECYCLE_SKIP_CLUSTER:-}" = "1" ] || [ "${LIFECYCLE_SKIP_SERVERS:-}" = "1" ]; then
  echo "cluster: skipped"
  exit 0
fi

TEMPORAL_SERVER_VERSION="1.32.1"
TEMPORAL_UI_SERVER_VERSION="2.49.1"
POSTGRESQL_MAJOR="15"

dir="$root/.local/cluster"
bin="$dir/bin"
mkdir -p "$bin"
command -v go >/dev/null || { echo "install-cluster: error: 'go' not found on PATH (Go >= 1.26.8 builds Temporal $TEMPORAL_SERVER_VERSION)" >&2; exit 1; }

build() { # build <name> <stamp> <module@version> <package> <binary name as go install makes it>
  local name=$1 stamp=$2 modver=$3 pkg=$4 made=$5
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.version" 2>/dev/null)" = "$stamp" ]; then
    echo "$name: up to date ($stamp)"
    return
  fi
  local start=$SECONDS tmp
  tmp="$(mktemp -d "$dir/build.XXXXXX")"
  GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-trimpath go install "$pkg@${modver#*@}"
  mv -f "$tmp/$made" "$bin/$name"
  rm -rf "$tmp"
  echo "$stamp" >"$bin/$name.version"
  echo "$name: built $stamp in $((SECONDS - start))s"
}

build temporal-server "$TEMPORAL_SERVER_VERSION" "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" \
  go.temporal.io/server/cmd/server server
build temporal-sql-tool "$TEMPORAL_SERVER_VERSION" "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" \
  go.temporal.io/server/cmd/tools/sql sql
build temporal-ui-server "$TEMPORAL_UI_SERVER_VERSION" "github.com/temporalio/ui-server/v2@v$TEMPORAL_UI_SERVER_VERSION" \
  github.com/temporalio/ui-server/v2/cmd/server server

# The PostgreSQL schema files of the same server version (temporal-sql-tool applies them).
schema="$dir/schema-$TEMPORAL_SERVER_VERSION"
if [ ! -f "$schema/postgresql/v12/temporal/schema.sql" ]; then
  src="$(go mod download -json "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$schema.tmp" && mkdir -p "$schema.tmp/postgresql"
  cp -R "$src/schema/postgresql/v12" "$schema.tmp/postgresql/v12"
  chmod -R u+w "$schema.tmp"
  rm -rf "$schema" && mv "$schema.tmp" "$schema"
  echo "temporal schema: copied postgresql/v12 of $TEMPORAL_SERVER_VERSION"
fi

# PostgreSQL and HAProxy from Debian.
pg_bin="/usr/lib/postgresql/$POSTGRESQL_MAJOR/bin"
if [ -x "$pg_bin/postgres" ] && command -v haproxy >/dev/null; then
  echo "postgresql $POSTGRESQL_MAJOR, haproxy: installed"
elif command -v apt-get >/dev/null && [ "$(id -u)" = "0" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "postgresql-$POSTGRESQL_MAJOR" haproxy >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "postgresql-$POSTGRESQL_MAJOR" haproxy >/dev/null; }
  echo "postgresql $POSTGRESQL_MAJOR, haproxy: installed from apt"
else
  echo "install-cluster: error: PostgreSQL $POSTGRESQL_MAJOR ($pg_bin) and haproxy are needed: apt-get install postgresql-$POSTGRESQL_MAJOR haproxy (as root)" >&2
  exit 1
fi
