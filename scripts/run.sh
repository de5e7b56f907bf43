#!/usr/bin/env bash
# Sets everything up (first run only: system packages, the session venv, the release build)
# and runs codeact with the given arguments; with none, the interactive chat. The default
# model is downloaded and verified on its first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CODEACT_CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CODEACT_CACHE/target}"
scripts/setup.sh >&2
[ $# -eq 0 ] && set -- chat
exec "$CARGO_TARGET_DIR/release/codeact" "$@"
