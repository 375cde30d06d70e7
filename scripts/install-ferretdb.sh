#!/usr/bin/env bash
# Builds the embedded FerretDB server (tools/ferretdb) into .local/bin/ferretdb.
# Idempotent: skips the build when the binary exists and its stamp matches
# the sha256 of tools/ferretdb/{go.mod,go.sum,main.go,sqlite-id-index.patch} and this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/ferretdb"
BIN_DIR="$ROOT/.local/bin"
BIN="$BIN_DIR/ferretdb"
STAMP="$BIN_DIR/ferretdb.stamp"

if ! command -v go >/dev/null 2>&1; then
  echo "install-ferretdb: error: 'go' not found on PATH; install Go >= 1.24 (https://go.dev/dl/) and re-run" >&2
  exit 1
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha() { sha256sum | cut -d' ' -f1; }
else
  sha() { shasum -a 256 | cut -d' ' -f1; }
fi

HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" "$SRC/sqlite-id-index.patch" "${BASH_SOURCE[0]}" | sha)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "ferretdb: up to date ($BIN)"
  exit 0
fi

mkdir -p "$BIN_DIR"
start=$SECONDS

# One fix on top of FerretDB v1.24.2, applied to a copy of the module: its SQLite backend creates the
# unique _id index on the expression  _ferretdb_sjson->"_id"  but looks documents up by  _ferretdb_sjson->'$._id',
# an expression SQLite does not match to that index, so every find, update and delete by _id scanned the
# whole table (EXPLAIN: "SCAN"; `npm run bench -- segments` grew with the collection). Using the index's own
# expression in lookups makes them index searches. Stored data and indexes are unchanged.
MODULE=github.com/FerretDB/FerretDB
VERSION=v1.24.2
PATCHED="$ROOT/.local/ferretdb-src"
ORIGINAL="$(cd "$SRC" && go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$ORIGINAL" || ! -d "$ORIGINAL" ]]; then
  echo "install-ferretdb: error: could not download $MODULE@$VERSION" >&2
  exit 1
fi
rm -rf "$PATCHED"
mkdir -p "$PATCHED"
cp -R "$ORIGINAL/." "$PATCHED/"
chmod -R u+w "$PATCHED"
(cd "$PATCHED" && git apply --whitespace=nowarn "$SRC/sqlite-id-index.patch") || {
  echo "install-ferretdb: error: $SRC/sqlite-id-index.patch does not apply to $MODULE@$VERSION" >&2
  exit 1
}
BUILD="$ROOT/.local/ferretdb-build"
rm -rf "$BUILD"
mkdir -p "$BUILD"
cp "$SRC/go.mod" "$BUILD/go.mod"
cp "$SRC/go.sum" "$BUILD/go.sum"
(cd "$SRC" && go mod edit -modfile="$BUILD/go.mod" -replace "$MODULE@$VERSION=$PATCHED")
(cd "$SRC" && CGO_ENABLED=0 go build -modfile="$BUILD/go.mod" -trimpath -o "$BIN.tmp" .)
mv -f "$BIN.tmp" "$BIN"
printf '%s\n' "$HASH" >"$STAMP"
echo "ferretdb: built $BIN in $((SECONDS - start))s"
