"""Executed code replies (beyond the original, which only parses code): what to run, and a recorder
that stands in for the APIs while the model's code runs in a fresh session.

The recorder does not run the APIs: the first recorded call is handed to ``score_call`` in the
scoring session, where coercion, the fresh database and the check apply as for a parsed reply.
"""

from .dataset import interfaces
from .jsonable import jsonable
from .parsing import extract_span

_RECORDED = []


def code_of(reply):
    """What to execute for a code reply: the whole reply if it compiles as Python, else the §4.1
    span (brackets included; as Python it is a list display holding the call), else None."""
    if not isinstance(reply, str) or not reply.strip():
        return None
    try:
        compile(reply, "<reply>", "exec")
    except (SyntaxError, ValueError):
        return extract_span(reply)
    return reply


def _recording_function(name):
    declared = list(interfaces().get(name, {}).get("input_types", {}))

    def record(*args, **kwargs):
        params = {}
        for i, value in enumerate(args):
            params[declared[i] if i < len(declared) else f"arg{i}"] = value
        params.update(kwargs)
        # Snapshot now: the code may mutate its arguments after the call.
        _RECORDED.append({"name": name, "args": jsonable(params)})
        return None

    record.__name__ = record.__qualname__ = name
    return record


def recorder(namespace, api_names):
    """Bind each API name in ``namespace`` to a function that records its call and returns None.
    Positional arguments take the declared parameter names in order (``argN`` past the last one);
    keyword arguments are kept. Starts a new recording."""
    _RECORDED.clear()
    for name in api_names:
        namespace[name] = _recording_function(name)


def recorded():
    """The calls recorded since ``recorder``: [{"name", "args"}] with JSON values (others as repr)."""
    return [{"name": call["name"], "args": dict(call["args"])} for call in _RECORDED]
