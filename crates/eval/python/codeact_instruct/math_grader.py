"""The MATH success check (FORMAT.md §5.7): PRM800K's ``grade_answer`` under MINT's 10 s limit.

``grade(answer, reference)`` -> ``{"correct": bool, "detail": str}``. The answer is correct when

1. both sides are equal after the mathd normalisation, or
2. both sides are equal after the grader's own normalisation (math_normalize.py), or
3. the normalised answer is not empty and, element by element (a tuple or interval is split on
   its commas; both sides must then have the same brackets and the same number of elements),
   sympy simplifies ``(reference) - (answer)`` to 0. Exceptions: two plain fractions are
   compared literally (``2/4`` is not ``1/2``); an integer reference needs an integer answer and
   the other way round; an expression with more than two distinct letters (``sqrt`` and
   ``frac`` not counted), with ``^{`` or ``^(``, or with a big or stacked power is never
   evaluated.

A grading that takes longer than the limit is wrong, as in MINT.
"""

import re

from .limits import call_with_limit
from .math_normalize import mathd_normalize, plain_normalize, str_is_int, strip_thousands_commas

TIME_LIMIT_SECONDS = 10

_TUPLE_CHARS = "()[]"
_PLAIN_FRACTION = re.compile(r"^-?[0-9]+.?/0*[1-9][0-9]*.?$")
_NEVER_EVALUATED = ("^{", "^(")
# Powers with two or more digits and stacked powers: too slow to simplify, never evaluated.
_NEVER_EVALUATED_PATTERNS = (re.compile(r"\^[0-9]+\^"), re.compile(r"\^[0-9][0-9]+"))


def grade(answer, reference, seconds=None):
    """``{"correct", "detail"}`` of ``answer`` against ``reference`` (strings; a None answer is
    wrong), graded within ``seconds`` (default ``TIME_LIMIT_SECONDS``)."""
    if seconds is None:
        seconds = TIME_LIMIT_SECONDS
    finished, verdict = call_with_limit(seconds, grade_answer, answer, reference)
    if not finished:
        return {"correct": False, "detail": f"grading timed out after {seconds} s (counts as wrong)"}
    correct, detail = verdict
    return {"correct": correct, "detail": detail}


def grade_answer(answer, reference):
    """``(correct, why)`` without a time limit (see the module docstring)."""
    if answer is None:
        return False, "no answer"
    if mathd_normalize(answer) == mathd_normalize(reference):
        return True, "equal after the mathd normalisation"
    truth, given = plain_normalize(reference), plain_normalize(answer)
    if truth is None:
        return False, "no reference"
    if truth == given:
        return True, f"equal after normalisation: {truth!r}"
    if not given:
        return False, "the answer is empty after normalisation"
    truth_items, given_items = split_tuple(truth), split_tuple(given)
    if len(truth_items) > 1 and (truth[0] != given[0] or truth[-1] != given[-1]):
        return False, f"brackets differ: {truth!r} vs {given!r}"
    if len(truth_items) != len(given_items):
        return False, f"{len(truth_items)} reference element(s) vs {len(given_items)}: {truth!r} vs {given!r}"
    for truth_item, given_item in zip(truth_items, given_items):
        equal, why = _elements_equal(truth_item, given_item)
        if not equal:
            return False, why
    return True, f"equal under sympy: {truth!r} and {given!r}"


def split_tuple(expr):
    """The elements of a bracketed tuple or interval (``(1,2]`` -> ``["1", "2"]``), else
    ``[expr]``; thousands commas are removed first. An empty string has no elements."""
    expr = strip_thousands_commas(expr)
    if not expr:
        return []
    if (
        len(expr) > 2
        and expr[0] in _TUPLE_CHARS
        and expr[-1] in _TUPLE_CHARS
        and not any(char in expr[1:-1] for char in _TUPLE_CHARS)
    ):
        return [item.strip() for item in expr[1:-1].split(",")]
    return [expr]


def _elements_equal(truth, given):
    if _PLAIN_FRACTION.search(truth) and _PLAIN_FRACTION.search(given):
        if truth == given:
            return True, "same fraction"
        return False, f"different fractions (compared literally): {truth!r} vs {given!r}"
    if str_is_int(truth) != str_is_int(given):
        return False, f"one of {truth!r} (reference) and {given!r} is an integer, the other not"
    return _equal_under_sympy(truth, given)


def _equal_under_sympy(truth, given):
    expr = f"({truth})-({given})"
    refusal = _evaluation_refusal(expr)
    if refusal:
        return False, f"not evaluated ({refusal}): {truth!r} vs {given!r}"
    try:
        difference = _parse(expr)
        simplified = _simplify(difference)
    # Any failure of parsing or simplifying means "not shown equal", by the original's rule.
    except Exception as error:  # noqa: BLE001 - reported in the detail
        return False, f"sympy could not compare {truth!r} and {given!r}: {type(error).__name__}"
    if simplified == 0:
        return True, "equal under sympy"
    return False, f"not equal: {truth!r} vs {given!r}"


def _evaluation_refusal(expr):
    """Why ``expr`` must not be given to sympy, or an empty string."""
    letters = {char for char in expr.replace("sqrt", "").replace("frac", "") if char.isalpha()}
    if len(letters) > 2:
        return "more than two distinct letters"
    for bad in _NEVER_EVALUATED:
        if bad in expr:
            return f"contains {bad!r}"
    for pattern in _NEVER_EVALUATED_PATTERNS:
        if pattern.search(expr):
            return "a large or stacked power"
    return ""


def _parse(expr):
    # Imported here: sympy takes a while to import and only this path needs it.
    from sympy.parsing import sympy_parser

    transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)
    return sympy_parser.parse_expr(expr.replace("^", "**"), transformations=transformations)


def _simplify(expr):
    import sympy

    return sympy.simplify(expr)
