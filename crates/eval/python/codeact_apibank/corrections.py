"""The corrected scoring's fixes: their names, and the lenient reading of replies they use.

Each fix undoes one quirk of the pack's PROTOCOL.md §7 that distorts the comparison between modes or
between a reply and its recording, in the direction the benchmark evidently intended. Nothing here
looks at gold replies; the prompts are unchanged (the model saw what it saw).
"""

import ast
import re

from .dataset import interfaces
from .parsing import SPAN, code_arguments, json_call, parse, text_arguments

CORRECTIONS = (
    (
        "multiline_span",
        "Q5",
        "A call spread over several lines (or pretty-printed JSON) is read when no single line holds a "
        "bracketed span: the span may then cross newlines.",
    ),
    (
        "zero_arg_calls",
        "Q4",
        "Text mode accepts a call without arguments written as the format implies, [Action: Name] "
        "(the original demands a trailing comma). The code renderer's [GetToda)] stays unparseable: it is "
        "not a call.",
    ),
    (
        "code_values_literal",
        "Q6",
        "Code arguments are read as Python reads them (ast literals: quotes, apostrophes, numbers, "
        "booleans, lists; positional arguments in declared order). A reply that is not valid Python, such "
        "as the history's unescaped attendees='['A', 'B']', is split at ', <declared parameter>=' and one "
        "layer of matching quotes is removed from each value.",
    ),
    (
        "text_values",
        "Q7",
        "Text values run to the next ', <declared parameter>:' instead of the next comma, and lose one "
        "layer of matching quotes after surrounding spaces are stripped.",
    ),
    (
        "lists_parsed",
        "Q8",
        "A list-typed argument given as the text of a Python or JSON list is parsed into that list (the "
        "recordings hold real lists).",
    ),
    (
        "json_bool",
        "Q9",
        "A bool argument keeps a real boolean (JSON true, Python True) and accepts the strings true/false "
        "in any case; the original turns everything but the exact string 'True' into False.",
    ),
    (
        "stateful_dialogue",
        "Q3",
        "The dialogue's earlier recorded API calls are replayed, in order, on the fresh database before the "
        "scored call (random ids and tokens take their recorded values), so calls that depend on earlier "
        "turns can match their recordings.",
    ),
    (
        "recorded_drift",
        "Q10",
        "Recordings made against an older API version: device_id is read as TimedSwitch/"
        "CancelTimedSwitch's name (in replies and recordings), and QueryScene device names are compared "
        "case-insensitively.",
    ),
    (
        "checks_pure",
        "Q11",
        "Checks never mutate the recorded ground truth (a repeated sample is checked like the first), and "
        "DeleteMeeting's check compares start_time instead of reading a 'time' key meetings do not have.",
    ),
    (
        "translate_env",
        "Q14",
        "Translate's restore of ALL_PROXY no longer crashes the first Translate call of a run.",
    ),
)

NAMES = tuple(name for name, _, _ in CORRECTIONS)

# Parameter names of older API versions that the recordings use (quirk Q10).
ALIASES = {"TimedSwitch": {"device_id": "name"}, "CancelTimedSwitch": {"device_id": "name"}}

# The call patterns of parsing.py; a span that crosses lines may also have spaces inside its brackets.
ONE_LINE = {
    "code_as_action": re.compile(r"\[(\w+)\((.*)\)\]"),
    "text_as_action": re.compile(r"\[Action:\s*(\w+),\s*(.*)\]"),
    "json_as_action": re.compile(r"\[(\{.*\})\]"),
}
MULTI_LINE = {
    "code_as_action": re.compile(r"\[\s*(\w+)\((.*)\)\s*\]", re.DOTALL),
    "text_as_action": re.compile(r"\[\s*Action:\s*(\w+),\s*(.*)\]", re.DOTALL),
    "json_as_action": re.compile(r"\[\s*(\{.*\})\s*\]", re.DOTALL),
}
BARE_TEXT_CALL = {
    False: re.compile(r"\[Action:\s*(\w+)\s*\]"),
    True: re.compile(r"\[\s*Action:\s*(\w+)\s*\]", re.DOTALL),
}


def describe():
    return [{"name": name, "quirk": quirk, "description": text} for name, quirk, text in CORRECTIONS]


def ordered(touched):
    return [name for name in NAMES if name in touched]


def apply_aliases(name, params, touched):
    """Rename a recorded old parameter name to the API's current one (unless both are given)."""
    aliases = ALIASES.get(name, {})
    renamed = {}
    for key, value in params.items():
        target = aliases.get(key)
        if target is not None and target not in params:
            touched.add("recorded_drift")
            key = target
        renamed[key] = value
    return renamed


def find_span(reply, corrected, touched):
    """The original's one-line span; under correction, else a span that may cross lines."""
    match = SPAN.search(reply)
    if match:
        return match.group(0)
    if not corrected:
        return None
    match = re.search(r"\[(.*)\]", reply, re.DOTALL)
    if match is None:
        return None
    touched.add("multiline_span")
    return match.group(0)


def _declared(name):
    return set(interfaces().get(name, {}).get("input_types", {})) | set(ALIASES.get(name, {}))


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_at(text, declared, separator):
    """``key<sep>value`` pairs: the first key is any word, a later pair starts only at
    ', <declared key><sep>' (so commas inside values stay); a trailing comma is dropped."""
    keys = "|".join(re.escape(k) for k in sorted(declared, key=len, reverse=True))
    boundary = re.compile(rf"^\s*(\w+)\s*{separator}|,\s*({keys})\s*{separator}", re.DOTALL)
    matches = list(boundary.finditer(text))
    params = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[match.end() : end]
        if i + 1 == len(matches):
            value = re.sub(r",\s*$", "", value)
        params[match.group(1) or match.group(2)] = value
    return params


def _literal(node, source):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        # A bare name reads as its text, as the original's bare-word alternative does.
        return node.id if isinstance(node, ast.Name) else ast.get_source_segment(source, node)


def _code_literal_args(name, text):
    """Arguments of ``name(<text>)`` read as Python, or None when that is not a plain call."""
    source = f"f({text})"
    try:
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    # Text such as "a), (b" makes the whole source something other than one call.
    if not isinstance(call, ast.Call):
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    declared = list(interfaces().get(name, {}).get("input_types", {}))
    params = {}
    for i, node in enumerate(call.args):
        params[declared[i] if i < len(declared) else f"arg{i}"] = _literal(node, source)
    for keyword in call.keywords:
        params[keyword.arg] = _literal(keyword.value, source)
    return params


def _code_split_args(name, text):
    declared = _declared(name)
    params = _split_at(text, declared, "=") if declared else {}
    if not params:
        return None
    out = {}
    for key, raw in params.items():
        raw = raw.strip()
        unquoted = _unquote(raw)
        if unquoted != raw:
            out[key] = unquoted
            continue
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            out[key] = raw
    return out


def _parse_code(match, touched):
    name, text = match.group(1), match.group(2)
    original = code_arguments(text)
    params = _code_literal_args(name, text)
    if params is None:
        params = _code_split_args(name, text)
    if params is None:
        return name, original
    if params != original:
        touched.add("code_values_literal")
    return name, params


def _parse_text(match, touched):
    name, text = match.group(1), match.group(2)
    original = text_arguments(text)
    declared = _declared(name)
    params = {key: _unquote(raw) for key, raw in _split_at(text, declared, ":").items()} if declared else {}
    if not params:
        return name, original
    if params != original:
        touched.add("text_values")
    return name, params


def corrected_parse(mode, span, touched):
    """(name, params) under the corrected reading; ParseError when even that finds no call."""
    patterns = MULTI_LINE if "multiline_span" in touched else ONE_LINE
    match = patterns[mode].search(span)
    if match is None:
        bare = BARE_TEXT_CALL["multiline_span" in touched].search(span) if mode == "text_as_action" else None
        if bare is None:
            return parse(mode, span)
        touched.add("zero_arg_calls")
        return bare.group(1), {}
    if mode == "code_as_action":
        return _parse_code(match, touched)
    if mode == "text_as_action":
        return _parse_text(match, touched)
    return json_call(match)
