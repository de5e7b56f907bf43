"""Shared by the worker's tests: the contract file, and a worker run for real (sandbox off)
in a subprocess, since it takes over file descriptors 1 and 2."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(PYTHON_DIR))

from codeact_worker.channel import Channel  # noqa: E402


@pytest.fixture(scope="session")
def contract():
    return json.loads((PYTHON_DIR / "contract.json").read_text())


WORKER = """
import os, socket, sys
sys.path.insert(0, sys.argv[1])
from codeact_worker import session
from codeact_worker.channel import Channel
session.warm(None)
os.chdir(sys.argv[3])
session.serve_worker(Channel(socket.socket(fileno=int(sys.argv[2]))), int(sys.argv[4]))
"""


class Worker:
    """A session worker, as the zygote's init would run it, minus the sandbox."""

    def __init__(self, workdir, limit=65536):
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", WORKER, str(PYTHON_DIR), str(theirs.fileno()), str(workdir), str(limit)],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        theirs.close()
        ours.settimeout(60)
        self.chan = Channel(ours)
        self.frames = []

    def recv(self):
        frame = self.chan.recv()
        assert frame is not None, "the worker closed its channel"
        self.frames.append(frame)
        return frame

    def run(self, cell, code):
        """Runs a cell; every frame until its done frame."""
        self.chan.send({"op": "execute", "cell": cell, "code": code})
        frames = []
        while not frames or frames[-1]["type"] != "done":
            frames.append(self.recv())
        return frames

    def call(self, request):
        self.chan.send(request)
        return self.recv()

    def close(self):
        self.chan.sock.close()
        assert self.proc.wait(timeout=30) == 0


@pytest.fixture
def worker(tmp_path):
    w = Worker(tmp_path)
    assert w.recv()["type"] == "ready"
    yield w
    w.close()


def run_python(code, *args):
    """Runs `code` in a fresh Python that can import the package; returns its stdout."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(
        [sys.executable, "-I", "-B", "-c", "import sys; sys.path.insert(0, %r)\n" % str(PYTHON_DIR) + code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
