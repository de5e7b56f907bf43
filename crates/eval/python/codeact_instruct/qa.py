"""The HotpotQA (and StrategyQA) success check of MINT (FORMAT.md §5.7; taskformat.md, qa).

``grade(answer, reference)`` -> ``{"correct": bool, "detail": str}``. Both sides are lowercased
and stripped. When both read as floats the answer is correct if ``|ref - ans| <= 0.05 * ref``
(as written: a negative reference can never be matched); otherwise it is correct when the
reference is a substring of the answer ("... was born in 1961." contains "1961"). Not exact
match, not F1.
"""


def grade(answer, reference):
    answer = str(answer).lower().strip()
    reference = str(reference).lower().strip()
    numbers = _floats(reference, answer)
    if numbers is not None:
        ref, ans = numbers
        correct = abs(ref - ans) <= 0.05 * ref
        relation = "within" if correct else "not within"
        return {"correct": correct, "detail": f"numbers: {ans!r} is {relation} 5% of {ref!r}"}
    if reference in answer:
        return {"correct": True, "detail": "the reference is a substring of the answer"}
    return {"correct": False, "detail": "the reference is not a substring of the answer"}


def _floats(reference, answer):
    try:
        return float(reference), float(answer)
    except ValueError:
        return None
