"""The APPS success check (FORMAT.md §5.7; taskformat.md, code): run the program on every test.

``grade(program, tests, fn_name=None)`` -> ``{"correct", "detail", "passed", "total",
"first_failure"}``: ``tests`` is APPS's ``{"inputs": [...], "outputs": [...]}``; ``passed``
counts the tests that passed; ``first_failure`` is None or ``{"index", "input", "expected",
"got", "error"}`` of the first test that did not pass (each text truncated). Correct only when
every test passes.

The tests run in one child process (``sys.executable``; apps_runner.py says how each test is
run and compared), ``PER_TEST_SECONDS`` per test and ``OVERALL_SECONDS`` for the whole run, as
MINT's harness (a 10 s alarm per test inside a process joined for 11 s). Tests the run did not
reach in time fail. The child gets a process group of its own, which is killed afterwards with
whatever the program started.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import apps_runner

PER_TEST_SECONDS = 10
OVERALL_SECONDS = 11
SHOWN_CHARS = 1000

# Read now: the session deletes the package's files right after importing it.
RUNNER_SOURCE = Path(apps_runner.__file__).read_text(encoding="utf-8")


def grade(program, tests, fn_name=None, per_test_seconds=None, overall_seconds=None):
    """See the module docstring; the two limits default to the module's constants."""
    per_test = PER_TEST_SECONDS if per_test_seconds is None else per_test_seconds
    overall = OVERALL_SECONDS if overall_seconds is None else overall_seconds
    inputs, outputs = list(tests["inputs"]), list(tests["outputs"])
    if not inputs or len(inputs) != len(outputs):
        raise ValueError(f"tests need as many outputs as inputs, and at least one: {len(inputs)} and {len(outputs)}")
    payload = {"code": str(program), "fn_name": fn_name or None, "inputs": inputs, "outputs": outputs}
    payload["timeout"] = per_test
    lines, finished, stderr = _run_child(payload, overall)
    return _verdict(lines, finished, stderr, inputs, outputs, overall)


def _run_child(payload, overall):
    """(the result lines, whether the child ended within ``overall`` s, the end of its stderr)."""
    with tempfile.TemporaryDirectory(prefix="codeact-apps-") as workdir:
        payload_path = os.path.join(workdir, "payload.json")
        with open(payload_path, "w", encoding="utf-8") as f:
            json.dump(payload, f)
        stderr_path = os.path.join(workdir, "stderr")
        read_fd, write_fd = os.pipe()
        try:
            with open(stderr_path, "wb") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-c", RUNNER_SOURCE, payload_path, str(write_fd)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    cwd=workdir,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            data, finished = _read_until(read_fd, time.monotonic() + overall)
        finally:
            os.close(read_fd)
            _stop(process)
        with open(stderr_path, "rb") as f:
            stderr_text = f.read().decode("utf-8", errors="replace")[-SHOWN_CHARS:]
    return data.decode("utf-8", errors="replace").splitlines(), finished, stderr_text


def _read_until(fd, deadline):
    """Everything written to ``fd`` until its writers close it (True) or the deadline (False)."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def _stop(process):
    """Kill the child's process group (the child and anything it started) and reap the child."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        # The child and everything it started have already exited.
        process.poll()
    process.wait()


def _verdict(lines, finished, stderr, inputs, outputs, overall):
    results, fatal = {}, None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            # Not from the harness: the program wrote to a descriptor it should not have.
            continue
        if "fatal" in record:
            fatal = record["fatal"]
        elif isinstance(record.get("index"), int):
            results[record["index"]] = record
    passed = sum(1 for record in results.values() if record.get("passed") is True)
    total = len(inputs)
    first_failure = None
    for index in range(total):
        record = results.get(index)
        if record is not None and record.get("passed") is True:
            continue
        if record is None:
            error = fatal or _missing_reason(finished, stderr, overall)
            got = ""
        else:
            error, got = record.get("error") or "wrong answer", record.get("got", "")
        first_failure = {
            "index": index,
            "input": _show(inputs[index]),
            "expected": _show(outputs[index]),
            "got": _show(got),
            "error": _show(error),
        }
        break
    correct = first_failure is None
    detail = f"{passed}/{total} tests passed"
    if first_failure is not None:
        detail += f"; test {first_failure['index']}: {first_failure['error']}"
    return {"correct": correct, "detail": detail, "passed": passed, "total": total, "first_failure": first_failure}


def _missing_reason(finished, stderr, overall):
    if not finished:
        return f"not run: the whole run's limit of {overall} s ran out"
    reason = "not run: the test process ended early"
    return reason + (f"; its stderr ends with: {stderr.strip()}" if stderr.strip() else "")


def _show(value):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
