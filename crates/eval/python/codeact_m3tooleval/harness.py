"""The part of the M³ToolEval protocol that Python semantics define (PROTOCOL.md §5), run inside
the task's session; the Rust side does the rest (prompt, reply post-processing, Action/Answer
parsing, answer check, the loop).

Every public function returns a JSON-serialisable dict; `emit` calls one and prints its result
as one line for the Rust side to find:

    __import__("codeact_m3tooleval.harness", fromlist=["emit"]).emit("call_text", "<action>")

so that running it adds no name to the session's namespace. The tools of the current task are
module state, set by `start`."""

import json
import sys

from . import domains
from .jsonsafe import without_surrogates
from .observe import observe_code, outcome, truncate
from .vectors import check_vectors

PREFIX = "\x1fcodeact-eval "
TEXT_INVALID = "Invalid action. You should output the tool name followed by its arguments, delimited by commas. Error: "
JSON_INVALID = (
    "Invalid action. You should output a JSON object with the following fields: 'tool' (the name of the tool), "
    "'args' (a list of arguments to the tool). Error: "
)
# The typo is the original's and part of the protocol.
UNKNOWN_TOOL = "Cound not find tool with name "
FAILED_TOOL = "Failed to execute tool {name} with args {args}. Did you try to invoke more than one tool at a time?"

_task = {"tools": None}


def start(domain, tools, namespace=None):
    """Fresh tools of `domain` named in `tools` (in that order) for the calls that follow; in code
    mode `namespace` is the session's globals, where each tool is bound by its name.

    Unknown domain or tool name: ValueError."""
    if not isinstance(tools, (list, tuple)):
        raise ValueError(f"tools must be a list of names, not {type(tools).__name__}")
    built = domains.build(domain, tools)
    _task["tools"] = built
    if namespace is not None:
        namespace.update(built)
    return {"tools": list(built)}


def call_text(action):
    """Execute a text_as_action action: 'tool_name, arg1, arg2' with int/float/str arguments."""
    tools = _current_tools()
    try:
        name, *pieces = action.split(",")
        name = name.strip()
        args = [_text_argument(piece.strip()) for piece in pieces]
    # The protocol turns any failure of parsing into feedback carrying the error's text.
    except Exception as error:  # noqa: BLE001 - feedback to the model, by protocol
        return _feedback(TEXT_INVALID + str(error))
    return _execute(tools, name, args)


def call_json(action):
    """Execute a json_as_action action: {"tool": name, "args": [...]} (a non-list args is one
    argument)."""
    tools = _current_tools()
    try:
        parsed = json.loads(action)
        name = parsed["tool"]
        args = parsed["args"]
    # Invalid JSON, a missing field, a JSON value that is not an object: feedback, by protocol.
    except Exception as error:  # noqa: BLE001 - feedback to the model, by protocol
        return _feedback(JSON_INVALID + str(error))
    if not isinstance(args, list):
        args = [args]
    return _execute(tools, name, args)


def emit(function_name, *args):
    """Call one of the public functions and print `PREFIX + json.dumps(result)` as one line; an
    exception is printed as `PREFIX + {"error": "<Type>: <message>"}`."""
    try:
        function = _FUNCTIONS.get(function_name)
        if function is None:
            raise ValueError(f"unknown function {function_name!r}; known: {sorted(_FUNCTIONS)}")
        result = function(*args)
    # Whatever goes wrong must reach the Rust side as a line it can read, not a traceback.
    except Exception as error:  # noqa: BLE001 - reported to the caller as {"error": ...}
        result = {"error": truncate(f"{type(error).__name__}: {error}")}
    sys.stdout.write(PREFIX + dumps_line(result) + "\n")
    sys.stdout.flush()


def dumps_line(result):
    """The result as JSON on one line: json.dumps escapes newlines and every other control
    character, and the Unicode line separators are escaped too, so no reader splits it."""
    text = json.dumps(without_surrogates(result), ensure_ascii=False)
    return text.translate(_LINE_SEPARATORS)


def _current_tools():
    if _task["tools"] is None:
        raise RuntimeError("no task started: call start(domain, tools) first")
    return _task["tools"]


def _text_argument(piece):
    try:
        return int(piece)
    except ValueError:
        try:
            return float(piece)
        except ValueError:
            return piece


def _execute(tools, name, args):
    if not isinstance(name, str) or name not in tools:
        return _feedback(f"{UNKNOWN_TOOL}{name}")
    try:
        result = tools[name](*args)
    # Any exception of a tool is feedback to the model, by protocol.
    except Exception:  # noqa: BLE001 - feedback to the model, by protocol
        return _feedback(FAILED_TOOL.format(name=name, args=args))
    try:
        observation = truncate(str(result))
    # str() itself can fail (an int past the digit limit): the tool gave nothing showable.
    except (ValueError, RecursionError, MemoryError):
        return _feedback(FAILED_TOOL.format(name=name, args=args))
    return outcome(observation, result)


def _feedback(text):
    return {"observation": text, "value": None, "literal": False}


_LINE_SEPARATORS = {ord(char): f"\\u{ord(char):04x}" for char in "\x85\u2028\u2029"}


_FUNCTIONS = {
    "start": start,
    "call_text": call_text,
    "call_json": call_json,
    "observe_code": observe_code,
    "check_vectors": check_vectors,
}
