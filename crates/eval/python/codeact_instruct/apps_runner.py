"""The child process of the APPS check: runs one program against every test of a problem.

apps.py starts it as ``python -I -c <this module's source> PAYLOAD RESULT_FD`` (it reads the
source when the package is imported, since the session deletes the package's files after
that), so this module imports nothing from the package. PAYLOAD is a JSON file
``{"code", "fn_name" (or null), "inputs", "outputs", "timeout"}``; for every test the child
writes one JSON line on RESULT_FD, ``{"index", "passed", "error", "got"}`` (``error`` null or
why the test failed, ``got`` what the program gave, truncated), or once
``{"fatal": why}`` when no test can run (a syntax error, a missing function) or the harness
itself broke.

* Call-based (``fn_name``): the program is run once as module ``solution`` (so an
  ``if __name__ == "__main__":`` block does not run); when it defines ``class Solution`` the
  function is that method of one ``Solution()``. Each test calls it with the test's arguments
  (a list of positional arguments); the result, tuples made lists, must equal the expected
  output or, when that is a non-empty list, its first item (APPS wraps some outputs in a list).
* Standard input: for each test the program runs afresh as ``__main__`` with the test input on
  file descriptor 0 (``input()``, ``sys.stdin``, ``open(0)`` all read it) and file descriptor 1
  captured. ``exit()`` with no or a zero code ends it normally. The output matches when it is
  equal, or equal as stripped non-empty lines, or its tokens are floats close to the expected
  ones (numpy's allclose tolerances), or its lines as sets of tokens form the same set.

Before the program, a fixed block of common imports runs in its namespace, as in APPS. Each
test has ``timeout`` seconds (SIGALRM); apps.py bounds the whole run.
"""

import builtins
import json
import os
import signal
import sys
import tempfile
import traceback

PREAMBLE = """\
import sys, os, math, time, re, string, random, bisect, heapq, itertools, functools, collections
import operator, fractions, decimal, copy
from math import sqrt, sin, cos, tan, ceil, floor, fabs, gcd, exp, log, log2, log10, inf, pi
from itertools import accumulate, product, permutations, combinations, combinations_with_replacement
from collections import Counter, OrderedDict, deque, defaultdict, ChainMap
from functools import lru_cache, reduce, cmp_to_key
from heapq import heappush, heappop, heapify, heappushpop, heapreplace, nlargest, nsmallest
from bisect import bisect_left, bisect_right, insort
from typing import List, Tuple, Dict, Set, Optional, Any
try:
    import numpy as np
except ImportError:
    np = None
"""
SHOWN_CHARS = 2000


class TestTimeout(BaseException):
    """The test's alarm. Not an Exception, so a program's broad ``except Exception`` lets it by."""


def main():
    payload_path, result_fd = sys.argv[1], int(sys.argv[2])
    # A descriptor of our own for the results, out of the way of the program's.
    results = os.dup(result_fd)
    os.close(result_fd)
    try:
        with open(payload_path, encoding="utf-8") as f:
            payload = json.load(f)
        run(payload, lambda line: _send(results, line))
    except BaseException:  # noqa: BLE001 - the harness's own failure is reported, not lost
        _send(results, {"fatal": "the test harness failed:\n" + traceback.format_exc()[-SHOWN_CHARS:]})
    finally:
        os.close(results)


def _send(fd, line):
    data = (json.dumps(line) + "\n").encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


def run(payload, send):
    def on_alarm(_signum, _frame):
        raise TestTimeout()

    timeout = payload["timeout"]
    try:
        code = compile(payload["code"], "<solution>", "exec")
    except (SyntaxError, ValueError, OverflowError) as error:
        send({"fatal": f"the program does not compile: {type(error).__name__}: {error}"})
        return
    preamble = compile(PREAMBLE, "<imports>", "exec")
    tests = list(zip(payload["inputs"], payload["outputs"]))
    signal.signal(signal.SIGALRM, on_alarm)
    if payload.get("fn_name"):
        _run_call_based(code, preamble, payload["fn_name"], tests, timeout, send)
    else:
        _run_stdin(code, preamble, tests, timeout, send, on_alarm)


def _limited(timeout, function, *args):
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _failure(error, timeout):
    if isinstance(error, TestTimeout):
        return f"timed out after {timeout} s"
    return f"{type(error).__name__}: {error}"[:SHOWN_CHARS]


def _run_call_based(code, preamble, fn_name, tests, timeout, send):
    namespace = {"__name__": "solution", "__builtins__": builtins}
    try:
        _limited(timeout, _exec_program, preamble, code, namespace)
        holder = namespace.get("Solution")
        holder = holder() if isinstance(holder, type) else None
        function = getattr(holder, fn_name) if holder is not None else namespace.get(fn_name)
    except BaseException as error:  # noqa: BLE001 - the program's failure is the result
        send({"fatal": "the program failed before the tests: " + _failure(error, timeout)})
        return
    if not callable(function):
        send({"fatal": f"the program defines no function {fn_name!r}"})
        return
    for index, (arguments, expected) in enumerate(tests):
        arguments = _int_keys(arguments)
        expected = _int_keys(expected)
        try:
            if isinstance(arguments, list):
                got = _limited(timeout, function, *arguments)
            else:
                got = _limited(timeout, function, arguments)
        except BaseException as error:  # noqa: BLE001 - the program's failure is the result
            send({"index": index, "passed": False, "error": _failure(error, timeout), "got": ""})
            continue
        passed = _returned_matches(got, expected)
        error = None if passed else "wrong answer"
        send({"index": index, "passed": passed, "error": error, "got": _show(repr(got))})


def _exec_program(preamble, code, namespace):
    exec(preamble, namespace)
    exec(code, namespace)


def _int_keys(value):
    """JSON made the integer keys of APPS's dict arguments strings; a list whose first item is
    such a dict (or the dict itself) gets them back, as APPS's harness did."""
    try:
        if isinstance(value, dict):
            return {int(key): item for key, item in value.items()}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return [{int(key): item for key, item in value[0].items()}] + value[1:]
    except ValueError:
        return value
    return value


def _as_lists(value):
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    return value


def _returned_matches(got, expected):
    got = _as_lists(got)
    try:
        if got == expected:
            return True
        return isinstance(expected, list) and len(expected) > 0 and bool(got == expected[0])
    except Exception:  # noqa: BLE001 - a result that cannot be compared (numpy arrays) is wrong
        return False


def _run_stdin(code, preamble, tests, timeout, send, on_alarm):
    for index, (given, expected) in enumerate(tests):
        if isinstance(given, list):
            given = "\n".join(given)
        if isinstance(expected, list):
            expected = "\n".join(expected)
        # The program may have replaced the handler in an earlier test.
        signal.signal(signal.SIGALRM, on_alarm)
        output, error = _run_with_input(code, preamble, str(given), timeout)
        if error is None:
            passed = _printed_matches(output, str(expected))
            error = None if passed else "wrong answer"
        else:
            passed = False
        send({"index": index, "passed": passed, "error": error, "got": _show(output)})


def _run_with_input(code, preamble, given, timeout):
    """(what the program printed, None or why it failed) of one run on ``given``."""
    _occupy_standard_descriptors()
    with tempfile.TemporaryFile() as stdin_file, tempfile.TemporaryFile() as stdout_file:
        stdin_file.write(given.encode("utf-8"))
        stdin_file.seek(0)
        os.dup2(stdin_file.fileno(), 0)
        os.dup2(stdout_file.fileno(), 1)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = captured = open(1, "w", encoding="utf-8", closefd=False)
        error = None
        try:
            _limited(timeout, _exec_program, preamble, code, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as stop:
            if stop.code not in (None, 0):
                error = f"exit({stop.code!r})"
        except BaseException as failure:  # noqa: BLE001 - the program's failure is the result
            error = _failure(failure, timeout)
        try:
            # Ours, even when the program put another object in sys.stdout.
            captured.flush()
        except (OSError, ValueError) as failure:
            error = error or f"its output could not be written: {failure}"
        stdout_file.seek(0)
        output = stdout_file.read().decode("utf-8", errors="replace")
    return output, error


def _occupy_standard_descriptors():
    """Reopen descriptors 0 and 1 when an earlier run closed them (``open(0)``, collected, closes
    0), so that the temporary files get others and the program closing 0 or 1 leaves them be."""
    for fd in (0, 1):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _lines(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def _floats(tokens):
    try:
        return [float(token) for token in tokens]
    except ValueError:
        return None


def _printed_matches(output, expected):
    if output == expected:
        return True
    output_lines, expected_lines = _lines(output), _lines(expected)
    if output_lines == expected_lines:
        return True
    got, want = _floats(output.split()), _floats(expected.split())
    if got and want and len(got) == len(want):
        if all(abs(a - b) <= 1e-8 + 1e-5 * abs(b) for a, b in zip(got, want)):
            return True
    return {frozenset(line.split()) for line in output_lines} == {frozenset(line.split()) for line in expected_lines}


def _show(text):
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


if __name__ == "__main__":
    main()
