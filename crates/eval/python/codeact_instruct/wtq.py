"""The WikiTableQuestions success check (FORMAT.md §5.7; taskformat.md, table).

``grade(answer, reference)`` -> ``{"correct": bool, "detail": str}``.

MINT's pre-processing: an answer (and a one-item reference) made only of digits and commas loses
its commas ("1,000" -> "1000"); the answer is then read with ``ast.literal_eval`` into a list (a
tuple becomes a list; any other value is one item, kept as the value it evaluated to), or, when
it does not evaluate, is one string item. The reference is a list of strings, or a string split
on ``|``.

Then the comparison of the official evaluator, version 1.0.2, written here from its documented
behaviour: every item becomes a value -

* a number when ``int()`` or else ``float()`` reads it (not NaN or infinite), kept as an int when
  within 1e-6 of one;
* else a date when it reads as ``yyyy-mm-dd`` with ``xx`` for unknown fields (month 1-12, day
  1-31, not all unknown); a date with only a year is the number of that year;
* else a string;

each with the normalised text of the item (diacritics removed, curly quotes and dashes made
ASCII, trailing citations like ``[1]``, ``*`` or ``†`` and trailing `` (details)`` dropped, outer
double quotes removed, one trailing period removed, whitespace collapsed, lowercase). Items of
one side that are the same value (same number, same date, same normalised string) count once.
The answer is correct when both sides have the same number of values and every reference value
matches some answer value: same normalised text, or two numbers less than 1e-6 apart, or two
equal dates.

Where MINT passed a number that literal_eval produced through ``int()`` (3.7 -> 3), this check
keeps the number's value.
"""

import ast
import math
import re
import unicodedata

_SINGLE_QUOTES = re.compile("[\u2018\u2019\u00b4`]")
_DOUBLE_QUOTES = re.compile("[\u201c\u201d]")
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2212]")
# Trailing citations: "[...]" (not at the very start), "[12]", and the footnote marks.
_CITATIONS = re.compile("((?<!^)\\[[^\\]]*\\]|\\[\\d+\\]|[\u2022\u2666\u2020\u2021*#+])*$")
_DETAILS = re.compile(r"(?<!^)( \([^)]*\))*$")
_OUTER_QUOTES = re.compile(r'^"([^"]*)"$')
_SPACES = re.compile(r"\s+")


def grade(answer, reference):
    try:
        targets = to_values(reference_items(reference))
        predicted = to_values(answer_items(answer))
    except TypeError as error:
        # An item that is no string or number (a nested list, None): MINT's check failed on it.
        return {"correct": False, "detail": f"unreadable item: {error}"}
    correct = denotations_match(targets, predicted)
    detail = f"reference {_show(targets)} vs answer {_show(predicted)}"
    return {"correct": correct, "detail": detail}


def reference_items(reference):
    """The reference's items: a list as it is (items made strings), a string split on ``|``."""
    if isinstance(reference, str):
        return _without_number_commas(reference).split("|")
    items = [str(item) for item in reference]
    if len(items) == 1:
        # MINT applied the comma rule to the whole `|`-joined reference, which only a
        # one-item reference can pass.
        items = [_without_number_commas(items[0])]
    return items


def answer_items(answer):
    """The answer's items (see the module docstring)."""
    text = _without_number_commas(str(answer))
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return [text]
    if isinstance(value, tuple):
        value = list(value)
    return value if isinstance(value, list) else [value]


def _without_number_commas(text):
    bare = text.replace(",", "")
    return bare if bare.isdigit() else text


class Value:
    """One item as the evaluator sees it: ``kind`` "number", "date" or "string"; ``key`` the
    number, the (year, month, day) with -1 for unknown fields, or the normalised string;
    ``text`` the normalised text of the item."""

    __slots__ = ("kind", "key", "text")

    def __init__(self, kind, key, text):
        self.kind, self.key, self.text = kind, key, text

    def __eq__(self, other):
        return isinstance(other, Value) and self.kind == other.kind and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return f"{self.kind}({self.key!r}, {self.text!r})"

    def matches(self, other):
        if self.text == other.text:
            return True
        if self.kind == other.kind == "number":
            return abs(self.key - other.key) < 1e-6
        if self.kind == other.kind == "date":
            return self.key == other.key
        return False


def to_values(items):
    """The distinct values of ``items`` (strings or numbers), in order of first appearance."""
    values = []
    for item in items:
        value = to_value(item)
        if value not in values:
            values.append(value)
    return values


def to_value(item):
    if not isinstance(item, (str, int, float)):
        raise TypeError(f"{type(item).__name__} {item!r}")
    amount = _number(item)
    if amount is not None:
        return _number_value(amount, item)
    ymd = _date(item) if isinstance(item, str) else None
    if ymd is not None:
        year, month, day = ymd
        if month == day == -1:
            return _number_value(year, item)
        return Value("date", ymd, normalize(item))
    return Value("string", normalize(item), normalize(item))


def _number_value(amount, item):
    if abs(amount - round(amount)) < 1e-6:
        amount = int(round(amount))
    # An item that is empty or zero shows the amount, as the evaluator's did.
    text = normalize(item) if item else str(amount)
    return Value("number", amount, text)


def _number(item):
    if isinstance(item, float):
        return item if math.isfinite(item) else None
    try:
        return int(item)
    except ValueError:
        try:
            amount = float(item)
        except ValueError:
            return None
    return amount if math.isfinite(amount) else None


def _date(text):
    parts = text.lower().split("-")
    if len(parts) != 3:
        return None
    try:
        year = -1 if parts[0] in ("xx", "xxxx") else int(parts[0])
        month = -1 if parts[1] == "xx" else int(parts[1])
        day = -1 if parts[2] == "xx" else int(parts[2])
    except ValueError:
        return None
    if year == month == day == -1:
        return None
    if not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
        return None
    return (year, month, day)


def normalize(item):
    """The evaluator's normalised text of an item (see the module docstring)."""
    text = unicodedata.normalize("NFKD", str(item))
    text = "".join(char for char in text if unicodedata.category(char) != "Mn")
    text = _SINGLE_QUOTES.sub("'", text)
    text = _DOUBLE_QUOTES.sub('"', text)
    text = _DASHES.sub("-", text)
    while True:
        before = text
        text = _CITATIONS.sub("", text.strip())
        text = _DETAILS.sub("", text.strip())
        text = _OUTER_QUOTES.sub(r"\1", text.strip())
        if text == before:
            break
    if text.endswith("."):
        text = text[:-1]
    return _SPACES.sub(" ", text).lower().strip()


def denotations_match(targets, predicted):
    """Same number of values, and every target value matches some predicted value."""
    if len(targets) != len(predicted):
        return False
    return all(any(target.matches(value) for value in predicted) for target in targets)


def _show(values, limit=1000):
    text = repr(values)
    return text if len(text) <= limit else text[:limit] + "..."
