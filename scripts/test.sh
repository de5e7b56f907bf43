#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Rust and Python 3: installs what the
# tests need (system packages, the session venv, Jupyter Kernel Gateway, llama.cpp's server,
# the default model), then runs formatting, lints and every test.
# Caches live under ~/.cache/codeact (the cargo target dir included), so reruns are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
export CODEACT_CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CODEACT_CACHE/target}"

step() { printf '\n==> %s\n' "$*"; }

step "setup: system packages and the session venv"
scripts/setup.sh --no-build
step "peers: Jupyter Kernel Gateway"
scripts/jupyter-gateway.sh install
step "peers: llama.cpp's llama-server (built from source once, then cached)"
scripts/llama-server.sh >/dev/null
step "the default model (downloaded and verified once)"
scripts/fetch-model.sh >/dev/null

step "python: ruff and pytest (the session worker)"
scripts/python-checks.sh
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$CODEACT_CACHE/last-test.log"
status=${PIPESTATUS[0]}
set -e
# One summary line for the whole run.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\n%d passed, %d failed, %d skipped\n", p, f, i }' \
  "$CODEACT_CACHE/last-test.log"
exit "$status"
