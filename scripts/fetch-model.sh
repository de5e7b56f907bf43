#!/usr/bin/env bash
# Pre-fetches codeact's default model (Qwen2.5-Coder-0.5B-Instruct GGUF) into the cache,
# using the same Rust code that fetches it on first use, and prints its path.
# Honours CODEACT_CACHE (default ~/.cache/codeact).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p codeact-llm --example fetch_model
