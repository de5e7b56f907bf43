#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Rust and Python 3: installs what the
# tests need (system packages, the session venv, Jupyter Kernel Gateway, llama.cpp's server,
# the default model), then runs formatting, lints and every test.
# Caches live under ~/.cache/codeact (the cargo target dir included), so reruns are fast.
#
# On a cold machine most of the time is compiling: llama.cpp twice (once inside the Rust
# build for the embedded engine, once for the llama-server peer) and the Rust dependencies.
# The peers are installed in the background while cargo compiles, and whatever the cache
# already holds is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export CODEACT_CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CODEACT_CACHE/target}"
mkdir -p "$CODEACT_CACHE"

start=$SECONDS
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - start))" "$*"; }

step "setup: system packages and the session venv"
scripts/setup.sh --no-build

step "peers (in the background): Jupyter Kernel Gateway, llama-server"
peers_log="$CODEACT_CACHE/peers-install.log"
(
  scripts/jupyter-gateway.sh install
  scripts/llama-server.sh >/dev/null
) >"$peers_log" 2>&1 &
peers=$!

step "Chromium for the web chat's browser test (Debian's package)"
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

step "PostgreSQL: a private cluster for the shared-queue tests"
CODEACT_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
export CODEACT_TEST_POSTGRES_URL

step "python: ruff and pytest (the session worker, the evaluations' packages)"
scripts/python-checks.sh
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test --no-run (build every test binary)"
cargo test --workspace --no-run --quiet
step "the default model (downloaded and verified once)"
# The example the test build just made: `cargo run -p codeact-llm` would resolve features for
# that crate alone and compile llama.cpp once more.
"$CARGO_TARGET_DIR/debug/examples/fetch_model" >/dev/null

step "waiting for the peers"
if ! wait "$peers"; then
  echo "installing the peers failed:" >&2
  tail -n 40 "$peers_log" >&2
  exit 1
fi

step "cargo test"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$CODEACT_CACHE/last-test.log"
status=${PIPESTATUS[0]}
set -e
step "done"
# One summary line for the whole run.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\n%d passed, %d failed, %d skipped\n", p, f, i }' \
  "$CODEACT_CACHE/last-test.log"
exit "$status"
