"""The HotpotQA check (the 5% rule, the substring rule) and the WikiTableQuestions check (MINT's
answer pre-processing and the official 1.0.2 evaluator's values and normalisation)."""

import pytest

from codeact_instruct import check, qa, wtq

# ---------------------------------------------------------------- HotpotQA


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("1961", "1961"),
        ("He was born in 1961.", "1961"),
        ("  FLIRTINI ", "Flirtini"),
        ("The Flirtini cocktail", "flirtini"),
        ("104", "100"),  # floats within 5% of the reference
        ("95.5", "100"),
        ("1e2", "100"),
        ("100.0", "100"),
        ("yes, it is", "yes"),
    ],
)
def test_qa_correct(answer, reference):
    assert qa.grade(answer, reference)["correct"], qa.grade(answer, reference)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("106", "100"),  # numbers outside 5%: no substring rule then
        ("1000", "100"),
        ("-100", "-100"),  # |ref - ans| <= 0.05 * ref can never hold for a negative reference
        ("Paris", "France"),
        ("New York", "New York City"),  # the reference must be inside the answer, not the reverse
        ("", "1961"),
    ],
)
def test_qa_wrong(answer, reference):
    assert not qa.grade(answer, reference)["correct"], qa.grade(answer, reference)


def test_qa_details():
    assert qa.grade("104", "100")["detail"] == "numbers: 104.0 is within 5% of 100.0"
    assert qa.grade("born in 1961", "1961")["detail"] == "the reference is a substring of the answer"


def test_check_dispatches_qa_tasks():
    assert check({"type": "qa", "reference": "Lisbon"}, "It is lisbon.")["correct"] is True


# ---------------------------------------------------------------- WikiTableQuestions


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("Caf\u00e9", "cafe"),
        ("S\u00e3o Paulo", "sao paulo"),
        ("\u2018quoted\u2019", "'quoted'"),
        ("1990\u20131995", "1990-1995"),
        ("Smith[1]", "smith"),
        ("Smith [note 2]", "smith"),
        ("Winner*", "winner"),
        ("Champion\u2020", "champion"),
        ("Hello (band)", "hello"),
        ("Hello (band) [3]", "hello"),
        ('"Yesterday"', "yesterday"),
        ("U.S.", "u.s"),
        ("  Two   Words ", "two words"),
        ("[note]", "[note]"),  # a bracket at the very start is no citation...
        ("[1]", ""),  # ...unless it holds a number
        ("(note)", "(note)"),
    ],
)
def test_wtq_normalisation(raw, normalised):
    assert wtq.normalize(raw) == normalised


@pytest.mark.parametrize(
    "answer, reference",
    [
        ('["Athens", "Rome"]', ["Athens", "Rome"]),
        ('["Rome", "Athens"]', ["Athens", "Rome"]),  # order does not matter
        ('("Athens", "Rome")', ["Athens", "Rome"]),  # a tuple is a list
        ("Athens", ["athens"]),
        ("Athens, Greece", ["Athens, Greece"]),  # not a Python literal: one string
        ("'Athens'", ["Athens"]),  # a literal string: its value
        ("2", ["2"]),
        ("2", ["2.0"]),  # numbers compare as values
        ("2.0000001", ["2"]),
        ("[2]", ["2"]),
        ("[3.5, 1]", ["1", "3.5"]),
        ("1,000", ["1000"]),  # commas of a digits-and-commas answer go
        ("1000", ["1,000"]),  # and of a one-item reference
        ("2001", ["2001-xx-xx"]),  # a date with only a year is a number
        ("2001-03-xx", ["2001-03-xx"]),
        ("xx-01-02", ["xx-01-02"]),
        ("True", ["1"]),  # literal_eval's True is the number 1 (MINT's quirk)
        ("\u201cYesterday\u201d", ['"Yesterday"']),
        ("Beatles (band)", ["Beatles"]),
        ('["a", "a"]', ["a"]),  # equal values count once
    ],
)
def test_wtq_correct(answer, reference):
    assert wtq.grade(answer, reference)["correct"], wtq.grade(answer, reference)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ('["Athens"]', ["Athens", "Rome"]),  # sizes differ
        ('["Athens", "Rome", "Paris"]', ["Athens", "Rome"]),
        ('["Athens", "Paris"]', ["Athens", "Rome"]),
        ("3", ["2"]),
        ("2.001", ["2"]),
        ("1,000", ["1,000", "2"]),  # a several-item reference keeps its commas
        ("2001-03-04", ["2001-03-05"]),
        ("1990-01-12", ["xx-01-12"]),  # dates match on every field
        ("3 years", ["3"]),
        ("[[1, 2]]", ["1"]),  # an item that is no string or number
        ("None", ["none"]),
    ],
)
def test_wtq_wrong(answer, reference):
    assert not wtq.grade(answer, reference)["correct"], wtq.grade(answer, reference)


def test_wtq_reference_string_is_split_on_bars():
    assert wtq.reference_items("Athens|Rome") == ["Athens", "Rome"]
    assert wtq.reference_items("1,000") == ["1000"]
    assert wtq.grade('["Athens", "Rome"]', "Rome|Athens")["correct"]


def test_wtq_values():
    assert wtq.to_value("12").kind == "number" and wtq.to_value("12").key == 12
    assert wtq.to_value("1.5").key == 1.5
    assert wtq.to_value("2.0000000001").key == 2
    assert wtq.to_value("nan").kind == "string"
    assert wtq.to_value("inf").kind == "string"
    assert wtq.to_value("2001-02-03").kind == "date" and wtq.to_value("2001-02-03").key == (2001, 2, 3)
    assert wtq.to_value("2001-13-03").kind == "string"
    assert wtq.to_value("xx-xx-xx").kind == "string"
    assert wtq.to_value("Hello").key == "hello"
    assert wtq.to_value(0).text == "0"


def test_wtq_answer_items():
    assert wtq.answer_items('["a", 1]') == ["a", 1]
    assert wtq.answer_items("(1, 2)") == [1, 2]
    assert wtq.answer_items("{1: 2}") == [{1: 2}]
    assert wtq.answer_items("hello world") == ["hello world"]
    assert wtq.answer_items("12,345") == [12345]


def test_check_dispatches_table_tasks():
    task = {"type": "table", "reference": ["Athens", "Rome"]}
    result = check(task, '["Athens", "Rome"]')
    assert result["correct"] is True
    assert "athens" in result["detail"]
