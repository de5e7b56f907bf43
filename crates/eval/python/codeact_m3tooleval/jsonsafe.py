"""Values made safe for strict JSON readers on the Rust side. One file shipped in two packages:
codeact_instruct/jsonsafe.py is a symbolic link to this one (each package is installed into a
session on its own, so neither can import the other)."""

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value):
    """``value`` with every lone surrogate (a program's output may carry them) in its strings,
    list items and dict keys and values replaced by U+FFFD: json.dumps would escape them, and
    no strict JSON reader accepts the escape."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_surrogates(key): without_surrogates(item) for key, item in value.items()}
    return value
