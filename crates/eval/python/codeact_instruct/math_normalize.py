"""The two answer normalisations of the MATH success check (FORMAT.md §5.7, the PRM800K grader).

* ``mathd_normalize`` - Hendrycks' MATH normalisation ("mathd"): drops line breaks, ``\\!``,
  ``\\left``/``\\right``, degree marks, ``\\$``, ``\\%`` and a trailing ``\\text{ unit}``; makes
  ``tfrac``/``dfrac`` ``frac``; adds the leading zero of ``.5``; drops a short ``x =`` prefix;
  braces ``\\sqrt3`` and ``\\frac12``; ``0.5`` -> ``\\frac{1}{2}``; ``a/b`` -> ``\\frac{a}{b}``.
  When a step meets a malformed answer (the original asserted and indexed without checks) the
  answer comes back only stripped and unwrapped from ``\\text{...}``, as the original's did.
* ``plain_normalize`` - the grader's own: unwrap ``\\text{}``, drop ``$``/``%``, ``or``/``and``
  -> commas, million/billion/trillion -> powers of ten, strip unit words, LaTeX -> plain text
  (latex_text.py), mixed numbers ``7 3/4`` -> ``7+3/4``, remove spaces and braces, lowercase,
  integers without their thousands commas.

Both map None to None. The helpers ``str_is_int``, ``str_to_int`` and
``strip_thousands_commas`` are the grader's number tests, shared with math_grader.py.
"""

import re

from .latex_text import latex_to_text

_WHOLE_TEXT = re.compile(r"^\\text\{(.+?)\}$")
_THOUSANDS_COMMA = re.compile(r"(\d),(\d\d\d)($|\D)")
_MIXED_NUMBER = re.compile(r"([0-9]) +([0-9])")
# The grader's unit words, each also with "s"/"es" and a power ("cm^2"); removed anywhere in
# the answer, inside other words too, as the original did.
_UNITS = "degree cm centimeter meter mile second minute hour day week month year foot feet inch yard".split()
_UNIT_PATTERNS = [re.compile(unit + r"(es)?(s)? *(\^[0-9]+)?") for unit in _UNITS]
# What the original's LaTeX converter wrote for these signs, replaced with names sympy reads.
_SIGNS = {"\u221a": "sqrt", "\u03c0": "pi", "\u221e": "inf", "\u222a": "U", "\u00b7": "*", "\u00d7": "*"}


class _Malformed(Exception):
    """A mathd step cannot handle the answer; the answer is then left as it is."""


def mathd_normalize(answer):
    """Hendrycks' normalisation of one answer string (see the module docstring)."""
    if answer is None:
        return None
    answer = answer.strip()
    match = _WHOLE_TEXT.search(answer)
    if match is not None:
        answer = match.group(1).strip()
    try:
        return _mathd_steps(answer)
    except _Malformed:
        return answer


def _mathd_steps(text):
    text = text.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    text = text.replace("tfrac", "frac").replace("dfrac", "frac")
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("^{\\circ}", "").replace("^\\circ", "")
    text = text.replace("\\$", "")
    text = _drop_unit_text(text)
    text = text.replace("\\%", "")
    text = text.replace(" .", " 0.").replace("{.", "{0.")
    if not text:
        return text
    if text[0] == ".":
        text = "0" + text
    sides = text.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        # "x = 3", "k=3": the value alone.
        text = sides[1]
    text = _brace_sqrt_arguments(text)
    text = text.replace(" ", "")
    text = _brace_frac_arguments(text)
    if text == "0.5":
        text = "\\frac{1}{2}"
    return _slash_to_frac(text)


def _drop_unit_text(text):
    """``5 \\text{ cm}`` -> ``5 ``: a ``\\text{`` followed by a space only ever holds a unit."""
    if "\\text{ " not in text:
        return text
    parts = text.split("\\text{ ")
    if len(parts) != 2:
        raise _Malformed("several unit texts")
    return parts[0]


def _brace_sqrt_arguments(text):
    """``\\sqrt3`` -> ``\\sqrt{3}`` (a one-character argument gets its braces)."""
    parts = text.split("\\sqrt")
    out = parts[0]
    for part in parts[1:]:
        if not part:
            raise _Malformed("\\sqrt without an argument")
        out += "\\sqrt" + part if part[0] == "{" else "\\sqrt{" + part[0] + "}" + part[1:]
    return out


def _brace_frac_arguments(text):
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{2}`` -> ``\\frac{1}{2}``."""
    parts = text.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        if not part:
            raise _Malformed("\\frac without arguments")
        out += "\\frac"
        if part[0] == "{":
            out += part
            continue
        if len(part) < 2:
            # The original gave up on the whole string here, keeping it as it was.
            return text
        first, second, rest = part[0], part[1], part[2:]
        out += "{" + first + "}" + ("{" + second + "}" if second != "{" else second) + rest
    return out


def _slash_to_frac(text):
    """``3/4`` -> ``\\frac{3}{4}`` when both sides are plain integers."""
    pieces = text.split("/")
    if len(pieces) != 2:
        return text
    try:
        numerator, denominator = int(pieces[0]), int(pieces[1])
    except ValueError:
        return text
    if text != f"{numerator}/{denominator}":
        return text
    return "\\frac{" + str(numerator) + "}{" + str(denominator) + "}"


def plain_normalize(expr):
    """The grader's own normalisation of one answer string (see the module docstring)."""
    if expr is None:
        return None
    match = _WHOLE_TEXT.search(expr)
    if match is not None:
        expr = match.group(1)
    expr = expr.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    expr = expr.replace(" or ", " , ").replace(" and ", " , ")
    expr = expr.replace("million", "*10^6").replace("billion", "*10^9").replace("trillion", "*10^12")
    for pattern in _UNIT_PATTERNS:
        expr = pattern.sub("", expr)
    expr = re.sub(r"\^ *\\circ", "", expr)
    if expr and expr[0] == "{" and expr[-1] == "}":
        expr = expr[1:-1]
    expr = re.sub(r",\\! *", "", expr)
    if _is_float(expr) and _is_int(float(expr)):
        expr = str(int(round(float(expr))))
    if "\\" in expr:
        expr = _latex_to_plain(expr)
    expr = re.sub("- *", "-", expr)
    expr = _MIXED_NUMBER.sub(r"\1+\2", expr)
    expr = expr.replace(" ", "").replace("{", "").replace("}", "")
    expr = expr.lower()
    if str_is_int(expr):
        expr = str(str_to_int(expr))
    return expr


def _latex_to_plain(expr):
    """LaTeX -> text; unparseable LaTeX stays as it is (the original ignored its converter's errors)."""
    spaced = expr.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac")
    # A space before each fraction keeps "7\\frac{3}{4}" a mixed number, "7 3/4".
    spaced = spaced.replace("\\frac", " \\frac")
    try:
        expr = latex_to_text(spaced)
    except (ValueError, RecursionError):
        return expr
    for sign, name in _SIGNS.items():
        expr = expr.replace(sign, name)
    return expr.strip()


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int(number):
    try:
        return abs(number - int(round(number))) <= 1e-7
    except (OverflowError, ValueError):
        # Infinity and NaN are no integers.
        return False


def strip_thousands_commas(expr):
    """``1,234,567`` -> ``1234567``; commas not followed by exactly three digits stay."""
    while True:
        stripped = _THOUSANDS_COMMA.sub(r"\1\2\3", expr)
        if stripped == expr:
            return stripped
        expr = stripped


def str_is_int(text):
    """True when ``text`` (thousands commas allowed) is a number within 1e-7 of an integer."""
    try:
        number = float(strip_thousands_commas(text))
    except ValueError:
        return False
    return _is_int(number)


def str_to_int(text):
    """The integer of ``text`` with every comma removed (truncating a fraction)."""
    return int(float(text.replace(",", "")))
