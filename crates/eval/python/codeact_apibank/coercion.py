"""Argument coercion before a call (pack's PROTOCOL.md §4.4; quirks Q8, Q9).

Unknown names and non-digit strings for ``int`` fail the call with the original's assertion texts
(the type message names the value, not the parameter). ``bool`` is ``value == "True"``; list types
pass through unchanged. The corrected variants (``lists_parsed``, ``json_bool``) are applied by the
caller through ``options``.
"""

import ast
import json

from .dataset import interfaces
from .registry import CallFailed


class Options:
    """Which coercion corrections apply, and which of them changed a value (``touched``)."""

    def __init__(self, lists_parsed=False, json_bool=False):
        self.lists_parsed = lists_parsed
        self.json_bool = json_bool
        self.touched = set()


class BadArgument(CallFailed):
    """An argument the coercion step rejects (unknown name, wrong type): the call fails."""


def _invalid(message):
    return BadArgument("AssertionError", message)


def parse_list_text(text):
    """A list written as a Python or JSON literal, or None."""
    for reader in (ast.literal_eval, json.loads):
        try:
            value = reader(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, (list, tuple)):
            return list(value)
    return None


def _bool(value, options):
    original = value == "True"
    if not options.json_bool:
        return original
    if isinstance(value, bool):
        fixed = value
    elif isinstance(value, str):
        fixed = value.strip().lower() == "true"
    else:
        fixed = original
    if fixed != original:
        options.touched.add("json_bool")
    return fixed


def coerce(name, params, options=None):
    """Typed arguments for API ``name``, in the order given; CallFailed as the original fails."""
    options = options or Options()
    types = interfaces()[name]["input_types"]
    typed = {}
    for key, value in params.items():
        if key not in types:
            raise _invalid(f"invalid parameter name. parameter: {key}")
        kind = types[key]
        if kind == "int":
            if isinstance(value, str) and not value.isdigit():
                raise _invalid(f"invalid parameter type. parameter: {value}")
            try:
                value = int(value)
            except (TypeError, ValueError) as error:
                raise BadArgument(type(error).__name__, str(error)) from None
        elif kind == "float":
            if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
                raise _invalid(f"invalid parameter type. parameter: {value}")
            try:
                value = float(value)
            except (TypeError, ValueError) as error:
                raise BadArgument(type(error).__name__, str(error)) from None
        elif kind == "bool":
            value = _bool(value, options)
        elif kind.startswith("list") and options.lists_parsed and isinstance(value, str):
            parsed = parse_list_text(value)
            if parsed is not None:
                value = parsed
                options.touched.add("lists_parsed")
        typed[key] = value
    return typed
