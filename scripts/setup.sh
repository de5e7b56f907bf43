#!/usr/bin/env bash
# Sets up everything codeact needs on a fresh Debian machine with Rust and Python 3:
# system packages, the session venv (~/.cache/codeact/venv), and the release build.
# Idempotent and quick on a second run. Caches live outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
mkdir -p "$CACHE"
build=1
[ "${1:-}" = "--no-build" ] && build=0

need_apt=()
for pkg in cmake clang libclang-dev python3-venv python3-dev pkg-config slirp4netns; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The session environment: the Python that sessions run, with the common scientific stack.
VENV="$CACHE/venv"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import IPython, numpy, pandas, matplotlib, sympy, scipy" 2>/dev/null; then
  "$VENV/bin/pip" install -q --disable-pip-version-check ipython numpy pandas matplotlib sympy scipy
fi

if [ "$build" = 1 ]; then
  cargo build --release --quiet -p codeact
fi
