#!/usr/bin/env bash
# Prepares the peers `codeact bench exec` compares against: ipykernel driven by jupyter_client,
# and Jupyter Kernel Gateway, both in a private venv (psutil too, for the driver).
#
#   scripts/bench-peers.sh            # create or complete the venv; prints its python on stdout
#   scripts/bench-peers.sh --check    # exit 0 when the venv is complete, 1 otherwise; no install
#
# BENCH_VENV overrides the venv path (default ~/.cache/codeact/bench-venv); BENCH_PYTHON the
# interpreter that creates it (default /usr/bin/python3). Everything but the final path goes to
# stderr so that callers can capture the interpreter's path.
set -euo pipefail

VENV="${BENCH_VENV:-${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}/bench-venv}"
PYTHON="${BENCH_PYTHON:-/usr/bin/python3}"
MODULES='import ipykernel, jupyter_client, kernel_gateway, psutil'

complete() {
    [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/jupyter-kernelgateway" ] \
        && "$VENV/bin/python" -c "$MODULES" 2>/dev/null \
        && [ -f "$VENV/share/jupyter/kernels/python3/kernel.json" ]
}

if [ "${1:-}" = "--check" ]; then
    complete
    exit $?
fi

if ! complete; then
    echo "bench-peers: installing ipykernel, jupyter_client, jupyter_kernel_gateway and psutil into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" >&2; then
            echo "bench-peers: '$PYTHON -m venv' failed; on Debian install python3-venv" >&2
            exit 1
        fi
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        ipykernel jupyter_client jupyter_kernel_gateway psutil >&2
    # A kernelspec inside the venv, so that `python3` is this venv's interpreter for both the
    # kernel manager and the gateway, whatever else the host has installed.
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    if ! complete; then
        echo "bench-peers: the venv at $VENV is still incomplete after installing" >&2
        exit 1
    fi
fi
echo "$VENV/bin/python"
