"""Replay of a tool-vectors file (the M³ToolEval pack's vectors.jsonl format) against our tools.

One JSON object per line, each on fresh tools of its domain:
- a single call: {"domain", "tool", "args", "result_repr"} where repr() of the result must equal
  result_repr, or {"domain", "tool", "args", "raises", "message"?} where the call must raise an
  exception of that type name (with that str(), when a message is given);
- a session: {"domain", "session": [calls as above without "domain"]} run in order on the same
  tools (a browser session); it fails at its first failing step.
Each failure is one line naming the vector (its line number), the call, what was expected and
what came instead."""

import json

from . import domains

# The result crosses to the Rust side on one line of a capped cell output: failures are listed
# up to this many, each with what was expected and what came shown up to SHOWN characters.
MAX_LISTED = 50
SHOWN = 200


def check_vectors(text, first=1):
    """{"failures": [str], "passed": int, "total": int} for a vectors file's content; ``first`` is the
    number of its first line (the caller may send a file a line at a time)."""
    failures = []
    total = 0
    # JSON Lines end at "\n" only: a U+2028 inside a string is no line break.
    for number, line in enumerate(text.split("\n"), first):
        if not line.strip():
            continue
        total += 1
        failure = _check_vector(number, line)
        if failure is not None:
            failures.append(failure)
    passed = total - len(failures)
    if len(failures) > MAX_LISTED:
        failures = failures[:MAX_LISTED] + [f"... and {len(failures) - MAX_LISTED} more failing vectors"]
    return {"failures": failures, "passed": passed, "total": total}


def _check_vector(number, line):
    try:
        vector = json.loads(line)
        domain = vector["domain"]
        tools = domains.build(domain)
        calls = vector["session"] if "session" in vector else [vector]
        if not isinstance(calls, list):
            raise TypeError("session is not a list")
        for step, call in enumerate(calls, 1):
            mismatch = _check_call(tools, call)
            if mismatch is not None:
                where = f"{domain} session step {step}: " if "session" in vector else f"{domain}: "
                return _one_line(f"vector {number} ({where}{_short(_describe(call))}): {mismatch}")
    except (ValueError, KeyError, TypeError) as error:
        return _one_line(f"vector {number}: not a valid vector ({type(error).__name__}: {_short(str(error))})")
    return None


def _describe(call):
    args = call.get("args", [])
    return f"{call['tool']}({', '.join(repr(arg) for arg in args)})"


def _expected(call):
    if "raises" in call:
        message = f": {call['message']}" if "message" in call else ""
        return f"raises {call['raises']}{message}"
    if "result_repr" in call:
        return call["result_repr"]
    raise KeyError("result_repr or raises")


def _check_call(tools, call):
    """None when the call behaves as the vector says, else 'expected ..., got ...'."""
    expected = _expected(call)
    name = call["tool"]
    args = call.get("args", [])
    if not isinstance(args, list):
        raise TypeError("args is not a list")
    if not isinstance(name, str) or name not in tools:
        return f"expected {_short(expected)}, got no tool of that name"
    try:
        result = tools[name](*args)
    # A vector may expect any exception type; one that differs is a failure to report.
    except Exception as error:  # noqa: BLE001 - every exception is compared with the vector
        raised = type(error).__name__
        same_message = "message" not in call or str(error) == call["message"]
        if "raises" in call and raised == call["raises"] and same_message:
            return None
        return f"expected {_short(expected)}, got raised {raised}: {_short(str(error))}"
    got = repr(result)
    if "raises" not in call and got == expected:
        return None
    return f"expected {_short(expected)}, got {_short(got)}"


def _short(text):
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def _one_line(text):
    # One line per failure, whatever an exception's message holds.
    return text.replace("\r", "\\r").replace("\n", "\\n")
