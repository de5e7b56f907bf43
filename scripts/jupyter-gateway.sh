#!/usr/bin/env bash
# Installs Jupyter Kernel Gateway (with ipykernel, and pandas and matplotlib for the kernels'
# rich outputs) into a private venv and optionally starts it.
#
#   scripts/jupyter-gateway.sh install           # create ~/.cache/codeact/jkg-venv if missing
#   scripts/jupyter-gateway.sh start [PORT] [ARGS...]
#                                                # install if needed, then run the gateway in the
#                                                # foreground on 127.0.0.1:PORT (default 8888);
#                                                # ARGS go to `jupyter kernelgateway` as they are
#
# JKG_VENV overrides the venv path; JKG_TOKEN, when set, makes the gateway require
# `Authorization: token $JKG_TOKEN`. The gateway runs code as the calling user with no
# isolation: bind it to loopback only, as done here.
set -euo pipefail

VENV="${JKG_VENV:-${CODEACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codeact}/jkg-venv}"
PYTHON="${JKG_PYTHON:-/usr/bin/python3}"

installed() {
    [ -x "$VENV/bin/jupyter" ] &&
        "$VENV/bin/python" -c 'import kernel_gateway, ipykernel, pandas, matplotlib' 2>/dev/null
}

install() {
    # A venv whose jupyter and ipykernel both import is taken as complete: reinstalling on
    # every test run would cost a minute and need the network.
    if installed; then
        return 0
    fi
    mkdir -p "$(dirname "$VENV")"
    # Test binaries run this concurrently; two pips filling one venv would break it. The lock
    # is held in a subshell so that the gateway started afterwards does not inherit it.
    (
        flock 9
        if installed; then
            exit 0
        fi
        echo "installing jupyter_kernel_gateway, ipykernel, pandas and matplotlib into $VENV" >&2
        if ! [ -x "$VENV/bin/python" ] && ! "$PYTHON" -m venv "$VENV"; then
            echo "error: '$PYTHON -m venv' failed; on Debian install the python3-venv package" >&2
            exit 1
        fi
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            jupyter_kernel_gateway ipykernel pandas matplotlib
        # The gateway finds kernels through kernelspecs; install one pointing at this venv's
        # Python so that `python3` means the venv and not whatever the host has.
        "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    ) 9>"$VENV.lock"
}

start() {
    local port="${1:-8888}"
    shift || true
    install
    local args=(--KernelGatewayApp.ip=127.0.0.1 "--KernelGatewayApp.port=$port")
    if [ -n "${JKG_TOKEN:-}" ]; then
        args+=("--KernelGatewayApp.auth_token=$JKG_TOKEN")
    fi
    # exec, so that the caller's pid is the gateway's and a signal to it reaches the gateway.
    exec "$VENV/bin/jupyter" kernelgateway "${args[@]}" "$@"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    *)
        echo "usage: $0 install | start [PORT] [GATEWAY ARGS...]" >&2
        exit 2
        ;;
esac
