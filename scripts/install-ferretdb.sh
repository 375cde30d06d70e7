#!/usr/bin/env bash
# Builds the embedded FerretDB server (tools/ferretdb) into .local/bin/ferretdb.
# Idempotent: skips the build when the binary exists and its stamp matches
# the sha256 of tools/ferretdb/{go.mod,go.sum,main.go}.
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

HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "ferretdb: up to date ($BIN)"
  exit 0
fi

mkdir -p "$BIN_DIR"
start=$SECONDS
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" .)
mv -f "$BIN.tmp" "$BIN"
printf '%s\n' "$HASH" >"$STAMP"
echo "ferretdb: built $BIN in $((SECONDS - start))s"
