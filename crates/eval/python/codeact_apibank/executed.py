"""Executed code replies (beyond the original, which only parses code): what to run, and a recorder
that stands in for the APIs while the model's code runs in a fresh session.

The model's code runs in a fresh session of its own, where each API name is a recorder (made
from ``api_params``) that only notes the call; the first recorded call is handed to
``score_call`` in the scoring session, where coercion, the fresh database and the check apply as
for a parsed reply.
"""

from .dataset import interfaces
from .parsing import extract_span


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


def api_params():
    """{api name: [declared input parameter names, in order]} for every API: what a recorder
    standing in for the APIs needs to name positional arguments."""
    return {name: list(spec.get("input_types", {})) for name, spec in interfaces().items()}
