"""From a model reply to (name, arguments) exactly as the original does it.

Facts from the pack's PROTOCOL.md §4.1-4.2 (quirks Q4-Q7): the span is the first ``[...]`` on one
line (``.`` never crosses a newline), then one regular expression per mode. The patterns below are
the protocol's, character for character; arguments are every non-overlapping match, left to right,
later duplicates overwriting earlier ones.
"""

import json
import re

SPAN = re.compile(r"\[(.*)\]")
CODE_CALL = re.compile(r"\[(\w+)\((.*)\)\]")
CODE_ARG = re.compile(r"(\w+)\s*=\s*['\"](.+?)['\"]|(\w+)\s*=\s*(\[.*\])|(\w+)\s*=\s*(\w+)")
TEXT_CALL = re.compile(r"\[Action:\s*(\w+),\s*(.*)\]")
TEXT_ARG = re.compile(r"(\w+):\s*([^,]+)")
JSON_CALL = re.compile(r"\[(\{.*\})\]")

NO_ACTION = "No valid action found in text"
NO_ACTION_KEY = 'No valid action found. You should provide the action name with key "action" in json.'


class ParseError(Exception):
    """A reply whose span does not parse; ``kind`` is the original's exception type name."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind

    def describe(self):
        return f"{self.kind}: {self}"


def extract_span(reply):
    """The §4.1 span (brackets included), or None: "No API call found"."""
    match = SPAN.search(reply)
    return match.group(0) if match else None


def code_arguments(text):
    params = {}
    for match in CODE_ARG.finditer(text):
        if match.group(1) is not None:
            params[match.group(1)] = match.group(2)
        elif match.group(3) is not None:
            params[match.group(3)] = match.group(4)
        else:
            params[match.group(5)] = match.group(6)
    return params


def text_value(raw):
    # The original's order: double quotes, then single quotes, then whitespace ("'x' " -> "x'").
    return raw.strip('"').strip("'").strip()


def text_arguments(text):
    return {match.group(1): text_value(match.group(2)) for match in TEXT_ARG.finditer(text)}


def parse_code(span):
    match = CODE_CALL.search(span)
    if not match:
        raise ParseError("ValueError", NO_ACTION)
    return match.group(1), code_arguments(match.group(2))


def parse_text(span):
    match = TEXT_CALL.search(span)
    if not match:
        raise ParseError("ValueError", NO_ACTION)
    return match.group(1), text_arguments(match.group(2))


def parse_json(span):
    match = JSON_CALL.search(span)
    if not match:
        raise ParseError("ValueError", NO_ACTION)
    return json_call(match)


def json_call(match):
    """(name, arguments) of a matched JSON call: the object's ``action`` and its other keys."""
    try:
        params = json.loads(match.group(1))
    except ValueError:
        raise ParseError("ValueError", NO_ACTION) from None
    if "action" not in params:
        raise ParseError("APIParseError", NO_ACTION_KEY)
    return params.pop("action"), params


PARSERS = {"code_as_action": parse_code, "text_as_action": parse_text, "json_as_action": parse_json}


def parse(mode, span):
    """(name, params) for a span in a mode; ParseError as the original fails."""
    return PARSERS[mode](span)
