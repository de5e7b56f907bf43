"""check_vectors: every vector of the pack passes, and a vector that does not is reported as one
readable line."""

import json

from m3tooleval_pack import PACK

from codeact_m3tooleval.vectors import check_vectors


def test_every_pack_vector_passes():
    text = (PACK / "vectors.jsonl").read_text(encoding="utf-8")
    result = check_vectors(text)
    assert result["failures"] == []
    assert result["passed"] == result["total"] == len([line for line in text.splitlines() if line.strip()])
    assert result["total"] == 92


def _lines(*vectors):
    return "\n".join(json.dumps(vector) for vector in vectors) + "\n\n"


def test_each_kind_of_failure_is_one_line():
    text = _lines(
        {"domain": "message_decoder", "tool": "reverse_string", "args": ["ab"], "result_repr": "'ba'"},
        {"domain": "message_decoder", "tool": "reverse_string", "args": ["ab"], "result_repr": "'ab'"},
        {"domain": "message_decoder", "tool": "maximum_value", "args": [], "raises": "TypeError"},
        {"domain": "message_decoder", "tool": "maximum_value", "args": [], "raises": "ValueError", "message": "x"},
        {"domain": "message_decoder", "tool": "string_length", "args": ["ab"], "raises": "ValueError"},
        {"domain": "message_decoder", "tool": "no_such_tool", "args": [], "result_repr": "1"},
        {"domain": "no_such_domain", "tool": "x", "args": [], "result_repr": "1"},
        {
            "domain": "web_browsing",
            "session": [
                {"tool": "go_to_previous_page", "args": [], "result_repr": "'[No previous page.]'"},
                {"tool": "scroll_up", "args": [], "result_repr": "'wrong'"},
            ],
        },
    )
    result = check_vectors(text + "not json\n")
    assert result["total"] == 9
    assert result["passed"] == 1
    assert result["failures"] == [
        "vector 2 (message_decoder: reverse_string('ab')): expected 'ab', got 'ba'",
        "vector 3 (message_decoder: maximum_value()): expected raises TypeError, "
        "got raised ValueError: max() arg is an empty sequence",
        "vector 4 (message_decoder: maximum_value()): expected raises ValueError: x, "
        "got raised ValueError: max() arg is an empty sequence",
        "vector 5 (message_decoder: string_length('ab')): expected raises ValueError, got 2",
        "vector 6 (message_decoder: no_such_tool()): expected 1, got no tool of that name",
        "vector 7: not a valid vector (ValueError: unknown domain 'no_such_domain'; known: "
        "['cryptobotanists_plant_dna_sequencer', 'message_decoder', 'trade_calculator', "
        "'travel_itinerary_planning', 'web_browsing'])",
        "vector 8 (web_browsing session step 2: scroll_up()): expected 'wrong', "
        "got '[Reached the top of the page.]\\n'",
        "vector 10: not a valid vector (JSONDecodeError: Expecting value: line 1 column 1 (char 0))",
    ]


def test_every_vector_starts_on_fresh_tools():
    click = {"tool": "click_url", "args": ["/about"]}
    back = {"tool": "go_to_previous_page", "args": [], "result_repr": "'[No previous page.]'"}
    opened = check_vectors(_lines({"domain": "web_browsing", "session": [click | {"result_repr": "''"}]}))
    assert len(opened["failures"]) == 1
    # The browser of the first session is gone: the second starts with no history.
    assert check_vectors(_lines({"domain": "web_browsing", "session": [back]}))["failures"] == []


def test_failures_stay_short():
    wrong = {"domain": "message_decoder", "tool": "reverse_string", "args": ["ab"], "result_repr": "'" + "x" * 500}
    result = check_vectors(_lines(*[wrong] * 60))
    assert (result["passed"], result["total"]) == (0, 60)
    assert len(result["failures"]) == 51
    assert result["failures"][0] == (
        "vector 1 (message_decoder: reverse_string('ab')): expected '" + "x" * 199 + "..., got 'ba'"
    )
    assert result["failures"][-1] == "... and 10 more failing vectors"


def test_lines_end_at_newlines_only():
    vector = {"domain": "message_decoder", "tool": "string_length", "args": ["a\u2028b"], "result_repr": "3"}
    text = json.dumps(vector, ensure_ascii=False) + "\r\n"
    assert "\u2028" in text
    assert check_vectors(text) == {"failures": [], "passed": 1, "total": 1}
