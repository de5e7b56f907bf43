#!/usr/bin/env bash
# Lints and tests the Python the binary embeds: the session worker (crates/exec/python), the
# evaluations' tools, simulated APIs and CodeActInstruct checks (crates/eval/python), and lints
# the CodeActInstruct task set's Python (crates/eval/data/codeactinstruct/tasks). In each: `ruff check`,
# `ruff format --check`, then pytest. Installs ruff and pytest, and the libraries the
# CodeActInstruct package's tests run with (sympy, pandas, numpy, IPython, as in the session
# venv) and the official `openai` client (the agent server's tests drive it), into a venv of
# their own, and Playwright, which drives Chromium in the web chat's browser test (DEV_VENV, default ~/.cache/codeact/dev-venv) the first time and whenever one of
# them fails to import; quick when they are there. Exits non-zero on a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}"
VENV="${DEV_VENV:-$CACHE/dev-venv}"
PYTHON="${DEV_PYTHON:-/usr/bin/python3}"

DEV_PACKAGES=(pytest ruff sympy pandas numpy ipython openai playwright)
if ! { [ -x "$VENV/bin/ruff" ] && "$VENV/bin/python" -c 'import pytest, sympy, pandas, numpy, IPython, openai, playwright' 2>/dev/null; }; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${DEV_PACKAGES[@]}"
fi

# Nothing written into the source tree: no bytecode (the crates' build scripts watch the
# packages' files), ruff's cache under the venv, no pytest cache.
export PYTHONDONTWRITEBYTECODE=1
export RUFF_CACHE_DIR="$VENV/ruff-cache"
for dir in crates/exec/python crates/eval/python; do
  echo "== $dir"
  cd "$ROOT/$dir"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider
done
# The CodeActInstruct task set's tools module and checker, with the evaluations' settings.
echo "== crates/eval/tests/data (the M³ToolEval gold script is what its generator writes)"
cd "$ROOT"
"$VENV/bin/ruff" check --config crates/eval/python/pyproject.toml crates/eval/tests/data
"$VENV/bin/ruff" format --check --config crates/eval/python/pyproject.toml crates/eval/tests/data
"$VENV/bin/python" crates/eval/tests/data/m3tooleval_gold_calls.py --check
echo "== crates/eval/data/codeactinstruct/tasks"
cd "$ROOT"
"$VENV/bin/ruff" check --config crates/eval/python/pyproject.toml crates/eval/data/codeactinstruct/tasks
"$VENV/bin/ruff" format --check --config crates/eval/python/pyproject.toml crates/eval/data/codeactinstruct/tasks
