"""From an execution result to what the model sees (PROTOCOL.md §5), and a result's JSON form.

Code mode: a cell's captured stdout; empty becomes a reminder to print, more than 2000
characters are cut with a marker, IPython's `Out[N]:` prompts are removed, and the stripped text
is read back with ast.literal_eval when it is a literal. Text and JSON modes use the same cut
on str() of a tool's result."""

import ast
import json
import math
import re

EMPTY_OUTPUT = "[Executed Successfully with No Output, Did you forget to print?]"
MAX_OUTPUT = 2000
TRUNCATED = "...\n[Output Truncated]"
_OUT_PROMPT = re.compile(r"Out\[\d+\]:")

# The JSON form of a result crosses to the Rust side on one line of the cell's output, which the
# session caps (64 KiB by default), and through a parser that stops at 128 levels of nesting. A
# result larger than this is of no use to an answer check anyway.
MAX_VALUE_CHARS = 8000
_MAX_DEPTH = 100
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def truncate(text):
    if len(text) > MAX_OUTPUT:
        return text[:MAX_OUTPUT] + TRUNCATED
    return text


def observe_code(output):
    """{"observation", "value", "literal"} for a code cell's captured stdout (see harness).

    The execution result is the literal value when the stripped text is one, else the text
    itself, unstripped; the observation is str() of it."""
    if output == "":
        output = EMPTY_OUTPUT
    text = _OUT_PROMPT.sub("", truncate(output))
    try:
        result = ast.literal_eval(text.strip())
        observation = str(result)
    # Whatever the parser, literal_eval or str() may raise on hostile text (deep nesting, an int
    # past the digit limit, null bytes) only means "not a literal": the text stands.
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, OverflowError):
        result = observation = text
    return outcome(observation, result)


def outcome(observation, result):
    """The harness's result shape: the observation, and the result's JSON form if it has one."""
    ok, value = to_json(result)
    return {"observation": observation, "value": value if ok else None, "literal": ok}


class _NotJson(Exception):
    pass


def to_json(value):
    """(True, JSON form) for str, int, float, bool, None, and lists, tuples and str-keyed dicts of
    those; (False, None) otherwise: a non-finite float, an int outside 64 bits, a cycle, a nesting
    deeper than 100, or a JSON text longer than MAX_VALUE_CHARS."""
    # The budget stops the walk early on a huge result; the final length is exact.
    budget = [MAX_VALUE_CHARS]
    try:
        converted = _convert(value, 0, budget)
    except (_NotJson, RecursionError):
        return False, None
    if len(json.dumps(converted, ensure_ascii=False)) > MAX_VALUE_CHARS:
        return False, None
    return True, converted


def _convert(value, depth, budget):
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] < 0:
        raise _NotJson
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise _NotJson
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson
        return float(value)
    if isinstance(value, str):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise _NotJson
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_convert(item, depth + 1, budget) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _NotJson
        return {str(key): _convert(item, depth + 1, budget) for key, item in value.items()}
    raise _NotJson
