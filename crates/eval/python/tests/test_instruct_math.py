"""The MATH success check: PRM800K's grade_answer behaviour (FORMAT.md §5.7), the LaTeX-to-text
converter standing in for pylatexenc, and the 10 s limit."""

import threading
import time

import pytest

from codeact_instruct import check, limits, math_grader
from codeact_instruct.latex_text import latex_to_text
from codeact_instruct.math_normalize import mathd_normalize, plain_normalize


def correct(answer, reference):
    return math_grader.grade(answer, reference)["correct"]


@pytest.mark.parametrize(
    "answer, reference",
    [
        # Fractions in their spellings.
        ("0.5", "\\frac12"),
        ("\\frac12", "0.5"),
        ("1/2", "\\frac{1}{2}"),
        ("\\dfrac{1}{2}", "\\frac{1}{2}"),
        ("\\tfrac{7}{2}", "\\frac{7}{2}"),
        ("15/2", "\\frac{15}{2}"),
        ("7.5", "\\frac{15}{2}"),
        ("1.5", "\\frac32"),
        ("-\\frac{3}{4}", "-\\frac34"),
        ("\\frac{-3}{4}", "-\\frac{3}{4}"),
        # Mixed numbers.
        ("7\\frac{3}{4}", "\\frac{31}{4}"),
        ("7 3/4", "\\frac{31}{4}"),
        # Units, degrees, money, percent, text.
        ("5 \\text{ cm}", "5"),
        ("5 cm", "5"),
        ("12 inches", "12"),
        ("4 \\text{ square feet}", "4"),
        ("3 cm^2", "3"),
        ("90^\\circ", "90"),
        ("90^{\\circ}", "90"),
        ("90 degrees", "90"),
        ("\\$5", "5"),
        ("\\$5.00", "5"),
        ("10\\%", "10"),
        ("10%", "10"),
        ("\\text{Monday}", "\\text{monday}"),
        ("\\textbf{(C)}", "(C)"),
        # Prefixes, thousands separators, integers written as floats.
        ("x = 3", "3"),
        ("k=-2", "-2"),
        ("1,000", "1000"),
        ("1{,}000", "1000"),
        ("10,\\!000", "10000"),
        ("3.0", "3"),
        ("0.50", "\\frac{1}{2}"),
        (".5", "\\frac{1}{2}"),
        # Radicals and pi.
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("2\\sqrt3", "2\\sqrt{3}"),
        ("2*sqrt(3)", "2\\sqrt{3}"),
        ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
        ("2\\sqrt[3]{2}", "\\sqrt[3]{16}"),
        ("2\\pi", "2 \\pi"),
        ("\\pi/2", "\\frac{\\pi}{2}"),
        ("2pi", "2\\pi"),
        ("6\\pi", "6 \\cdot \\pi"),
        ("\\frac{9\\pi}{2}", "4.5\\pi"),
        # Expressions sympy shows equal.
        ("x^2+2x+1", "(x+1)^2"),
        ("2(x+1)", "2x+2"),
        ("3 \\times \\frac{1}{2}", "\\frac{3}{2}"),
        ("\\frac{3}{2x}", "\\frac{1.5}{x}"),
        # Tuples and intervals: element by element, same brackets.
        ("(1, -2)", "(1,-2)"),
        ("(\\frac{1}{2}, 3)", "(0.5,3)"),
        ("(-\\infty, 3]", "(-\\infty,3]"),
        ("[2, 5)", "[2,5)"),
        ("(1,2) \\cup (3,4)", "(1,2)\\cup(3,4)"),
        ("2 and 3", "2, 3"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\left(3, \\frac{\\pi}{2}\\right)"),
    ],
)
def test_equivalent_answers_are_correct(answer, reference):
    assert correct(answer, reference), math_grader.grade(answer, reference)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("3", "4"),
        ("2/4", "\\frac{1}{2}"),  # two plain fractions compare literally
        ("3", "3.5"),  # an integer answer to a non-integer reference
        ("3.5", "3"),
        ("2^{10}", "1024"),  # not an integer as written, and never evaluated
        ("1024", "2^{10}"),
        ("[1,2)", "(1,2)"),  # brackets differ
        ("(1,2)", "(1,2,3)"),  # element counts differ
        ("(2,1)", "(1,2)"),
        ("x+y+z", "z+y+x"),  # more than two distinct letters: never evaluated
        ("6.283185", "2\\pi"),
        ("\\sqrt{2}", "1.41421356"),
        ("", "1"),
        ("x", "y"),
        ("\\text{north}", "\\text{south}"),
    ],
)
def test_different_answers_are_wrong(answer, reference):
    assert not correct(answer, reference), math_grader.grade(answer, reference)


def test_a_missing_answer_is_wrong():
    assert math_grader.grade(None, "1") == {"correct": False, "detail": "no answer"}


def test_the_detail_says_which_rule_decided():
    assert math_grader.grade("\\dfrac12", "\\frac{1}{2}")["detail"] == "equal after the mathd normalisation"
    assert "normalisation" in math_grader.grade("5 cm", "5")["detail"]
    assert "sympy" in math_grader.grade("2\\sqrt3", "\\sqrt{12}")["detail"]
    assert "literally" in math_grader.grade("2/4", "1/2")["detail"]
    assert "brackets" in math_grader.grade("[1,2)", "(1,2)")["detail"]


def test_check_dispatches_math_tasks():
    assert check({"type": "math", "reference": "\\frac{7}{2}"}, "3.5")["correct"] is True
    assert check({"type": "math", "reference": "\\frac{7}{2}"}, "3")["correct"] is False


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("\\dfrac{1}{2}", "\\frac{1}{2}"),
        ("\\frac12", "\\frac{1}{2}"),
        ("\\frac1{2}", "\\frac{1}{2}"),
        ("\\sqrt3", "\\sqrt{3}"),
        ("0.5", "\\frac{1}{2}"),
        ("3/4", "\\frac{3}{4}"),
        ("03/4", "03/4"),
        (".5", "\\frac{1}{2}"),
        (".25", "0.25"),
        ("x = 5", "5"),
        ("xyz = 5", "xyz=5"),
        ("\\left( 1, 2 \\right)", "(1,2)"),
        ("45^\\circ", "45"),
        ("\\text{(A)}", "(A)"),
        ("5\\text{ cm}\\text{ wide}", "5\\text{ cm}\\text{ wide}"),  # malformed: left as it is
        ("\\sqrt", "\\sqrt"),
        ("\\frac", "\\frac"),
    ],
)
def test_mathd_normalisation(raw, normalised):
    assert mathd_normalize(raw) == normalised


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("\\text{North}", "north"),
        # Unit words go wherever they are, inside other words too (as in the original).
        ("Monday", "mon"),
        ("\\$1,234", "1234"),
        ("2 or 3", "2,3"),
        ("5 million", "5*10^6"),
        ("12 meters", "12"),
        ("8 cm^2", "8"),
        ("{5}", "5"),
        ("4.0", "4"),
        ("7\\frac{3}{4}", "7+3/4"),
        ("\\frac{\\sqrt{3}}{2}", "sqrt(3)/2"),
        ("\\frac{1}{x+1}", "1/(x+1)"),
        # Without a backslash there is no LaTeX conversion: the braces simply go.
        ("x^{n+1}", "x^n+1"),
        ("\\pi^{n+1}", "pi^(n+1)"),
        ("2\\pi r", "2pir"),
        ("(-\\infty, 0)", "(-inf,0)"),
        ("\\{1, 2\\}", "1,2"),
        ("- 3", "-3"),
    ],
)
def test_second_normalisation(raw, normalised):
    assert plain_normalize(raw) == normalised


@pytest.mark.parametrize(
    "latex, text",
    [
        ("\\frac{1}{2}", "1/2"),
        ("\\frac12", "1/2"),
        ("\\frac{a+b}{c}", "(a+b)/c"),
        ("\\frac{-1}{2}", "-1/2"),
        ("\\sqrt{2}", "sqrt(2)"),
        ("\\sqrt2", "sqrt(2)"),
        ("\\sqrt[3]{x}", "(x)**(1/3)"),
        ("\\sqrt[n]{x+1}", "(x+1)**(1/n)"),
        ("3\\cdot 4", "3* 4"),
        ("2\\times3", "2*3"),
        ("\\pi", "pi"),
        ("\\infty", "inf"),
        ("A \\cup B", "A U B"),
        ("\\text{ apples}", " apples"),
        ("x^2", "x^2"),
        ("x^{10}", "x^10"),
        ("x^{-1}", "x^-1"),
        ("e^{i\\pi}", "e^(ipi)"),
        ("\\frac{3}{2x}", "3/(2x)"),
        ("\\frac{\\pi}{2}", "pi/2"),
        ("\\left(1, 2\\right]", "(1, 2]"),
        ("\\left.x\\right|", "x|"),
        ("\\binom{5}{2}", "binomial(5,2)"),
        ("\\theta", "\u03b8"),
        ("\\le", "\u2264"),
        ("\\mathbf{v}", "v"),
        ("\\boxed{42}", "42"),
        ("1\\,000", "1000"),
        ("\\%", "%"),
        ("\\unknownmacro", "unknownmacro"),
    ],
)
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


@pytest.mark.parametrize("latex", ["\\frac{1}{2", "x}", "\\frac{1}", "\\sqrt"])
def test_latex_to_text_rejects_unbalanced_input(latex):
    with pytest.raises(ValueError):
        latex_to_text(latex)


def test_unparseable_latex_is_kept_by_the_second_normalisation():
    assert plain_normalize("\\frac{1}{2") == "\\frac12"


def test_a_slow_grading_is_wrong(monkeypatch):
    def slow(answer, reference):
        time.sleep(5)
        return True, "too late"

    monkeypatch.setattr(math_grader, "grade_answer", slow)
    started = time.monotonic()
    result = math_grader.grade("1", "1", seconds=0.3)
    assert time.monotonic() - started < 2
    assert result == {"correct": False, "detail": "grading timed out after 0.3 s (counts as wrong)"}


def test_the_default_limit_is_ten_seconds():
    assert math_grader.TIME_LIMIT_SECONDS == 10


def test_limits_work_off_the_main_thread_too():
    out = {}

    def run():
        out["slow"] = limits.call_with_limit(0.2, time.sleep, 2)
        out["fast"] = limits.call_with_limit(2, sum, [1, 2])

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert out == {"slow": (False, None), "fast": (True, 3)}


def test_a_limit_restores_an_outer_alarm():
    import signal

    def outer(_signum, _frame):
        raise AssertionError("the outer alarm went off")

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 50)
        assert limits.call_with_limit(1, sum, [1]) == (True, 1)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 45 < left <= 50
        assert signal.getsignal(signal.SIGALRM) is outer
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_errors_of_the_limited_call_propagate():
    with pytest.raises(ZeroDivisionError):
        limits.call_with_limit(1, lambda: 1 / 0)
