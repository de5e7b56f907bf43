"""The harness: start, the text and JSON actions with their feedback strings byte for byte, the
code-mode observation, the JSON form of results, and emit's one-line output."""

import json
import sys

import pytest

from codeact_m3tooleval import harness
from codeact_m3tooleval.observe import EMPTY_OUTPUT, observe_code, to_json

FAILED = "Failed to execute tool {} with args {}. Did you try to invoke more than one tool at a time?"
TEXT_INVALID = "Invalid action. You should output the tool name followed by its arguments, delimited by commas. Error: "
JSON_INVALID = (
    "Invalid action. You should output a JSON object with the following fields: 'tool' (the name of the tool), "
    "'args' (a list of arguments to the tool). Error: "
)


def ok(observation, value):
    return {"observation": observation, "value": value, "literal": True}


def feedback(text):
    return {"observation": text, "value": None, "literal": False}


@pytest.fixture
def decoder():
    return harness.start("message_decoder", ["convert_hex_to_ascii", "reverse_string", "minimum_value"])


def test_start_builds_fresh_tools_and_binds_them():
    namespace = {"x": 1}
    assert harness.start("web_browsing", ["view", "click_url"], namespace) == {"tools": ["view", "click_url"]}
    assert set(namespace) == {"x", "view", "click_url"}
    namespace["click_url"]("/contact")
    # Code mode and the call functions share the task's tools...
    assert "[Web Page Name: /contact]" in harness.call_text("view")["observation"]
    # ...and a new task starts from fresh ones.
    harness.start("web_browsing", ["view"])
    assert "[Web Page Name: /]\n" in harness.call_text("view")["observation"]


def test_start_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        harness.start("nope", [])
    with pytest.raises(ValueError, match="unknown tool 'max' in domain 'trade_calculator'"):
        harness.start("trade_calculator", ["calculator", "max"])
    with pytest.raises(ValueError, match="tools must be a list"):
        harness.start("trade_calculator", "calculator")


def test_calls_need_a_task(monkeypatch):
    monkeypatch.setitem(harness._task, "tools", None)
    with pytest.raises(RuntimeError, match="no task started"):
        harness.call_text("view")


def test_text_action_converts_and_executes(decoder):
    assert harness.call_text("reverse_string,  abc ") == ok("cba", "cba")
    assert harness.call_text("minimum_value, 3, 2.5, 7") == ok("2.5", 2.5)
    assert harness.call_text("minimum_value, 3, 12") == ok("3", 3)
    assert harness.call_text("minimum_value, 1e3, 5_000") == ok("1000.0", 1000.0)
    # int first, then float, else the stripped text; the failure shows the converted list.
    assert harness.call_text("minimum_value, 3, 2.5, x y , -1") == feedback(
        FAILED.format("minimum_value", "[3, 2.5, 'x y', -1]")
    )
    assert harness.call_text("convert_hex_to_ascii, zz") == feedback(FAILED.format("convert_hex_to_ascii", "['zz']"))
    assert harness.call_text("reverse_string") == feedback(FAILED.format("reverse_string", "[]"))


def test_text_action_feedback(decoder):
    assert harness.call_text("caesar_decode, abc, 1") == feedback("Cound not find tool with name caesar_decode")
    assert harness.call_text("") == feedback("Cound not find tool with name ")
    assert harness.call_text(None) == feedback(TEXT_INVALID + "'NoneType' object has no attribute 'split'")


def test_text_action_truncates_the_observation():
    harness.start("trade_calculator", ["calculator"])
    result = harness.call_text("calculator, 'x' * 2500")
    assert result["observation"] == "x" * 2000 + "...\n[Output Truncated]"
    assert result["value"] == "x" * 2500 and result["literal"]
    assert harness.call_text("calculator, 'x' * 2000")["observation"] == "x" * 2000
    # A value too large to cross on the result's line is left out.
    assert harness.call_text("calculator, 'x' * 9000") == {
        "observation": "x" * 2000 + "...\n[Output Truncated]",
        "value": None,
        "literal": False,
    }


def test_json_action_executes(decoder):
    assert harness.call_json('{"tool": "reverse_string", "args": ["abc"]}') == ok("cba", "cba")
    assert harness.call_json('{"tool": "reverse_string", "args": "abc"}') == ok("cba", "cba")
    assert harness.call_json('{"tool": "minimum_value", "args": 4}') == ok("4", 4)
    assert harness.call_json('{"tool": "reverse_string", "args": [[1, 2]]}') == ok("[2, 1]", [2, 1])
    assert harness.call_json('{"tool": "reverse_string", "args": [1, {"a": null}]}') == feedback(
        FAILED.format("reverse_string", "[1, {'a': None}]")
    )


def test_json_action_feedback(decoder):
    assert harness.call_json("{") == feedback(
        JSON_INVALID + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    assert harness.call_json('{"tool": "x"} End') == feedback(JSON_INVALID + "Extra data: line 1 column 15 (char 14)")
    assert harness.call_json('{"tool": "reverse_string"}') == feedback(JSON_INVALID + "'args'")
    assert harness.call_json('["reverse_string"]') == feedback(
        JSON_INVALID + "list indices must be integers or slices, not str"
    )
    assert harness.call_json('{"tool": "nope", "args": []}') == feedback("Cound not find tool with name nope")
    assert harness.call_json('{"tool": ["nope"], "args": []}') == feedback("Cound not find tool with name ['nope']")
    assert harness.call_json('{"tool": null, "args": []}') == feedback("Cound not find tool with name None")


def test_value_is_the_result_as_json():
    harness.start("cryptobotanists_plant_dna_sequencer", ["find_max_nucleotide", "count_nucleotides"])
    assert harness.call_text("find_max_nucleotide, A, 1") == ok("('A', 1)", ["A", 1])
    assert harness.call_text("count_nucleotides, GAG") == ok("{'G': 2, 'A': 1}", {"G": 2, "A": 1})
    harness.start("trade_calculator", ["calculator"])
    assert harness.call_text("calculator, None") == ok("None", None)
    assert harness.call_text("calculator, 1 == 1") == ok("True", True)
    for expression, shown in [
        ("{2}", "{2}"),
        ("{1: 2}", "{1: 2}"),
        ("float('nan')", "nan"),
        ("2 ** 64", "18446744073709551616"),
        ("b'x'", "b'x'"),
        ("calculator", None),
    ]:
        result = harness.call_text(f"calculator, {expression}")
        assert result["value"] is None and result["literal"] is False
        if shown is not None:
            assert result["observation"] == shown


def test_to_json_limits():
    assert to_json(("a", [1, 2.5, True, None], {"k": (1,)})) == (True, ["a", [1, 2.5, True, None], {"k": [1]}])
    assert to_json(-(2**63)) == (True, -(2**63)) and to_json(-(2**63) - 1) == (False, None)
    cycle = []
    cycle.append(cycle)
    assert to_json(cycle) == (False, None)
    assert to_json(list(range(100_001))) == (False, None)
    assert to_json(["\x00" * 1400]) == (False, None)  # 8400 characters once escaped
    assert to_json(["\x00" * 1300])[0] is True
    assert to_json(float("inf")) == (False, None)


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="no int digit limit in this Python")
def test_a_result_that_str_cannot_show_is_a_failure():
    harness.start("trade_calculator", ["calculator"])
    assert harness.call_text("calculator, 10 ** 5000") == feedback(FAILED.format("calculator", "['10 ** 5000']"))


def test_observe_code_cases():
    assert observe_code("") == ok(EMPTY_OUTPUT, EMPTY_OUTPUT)
    assert observe_code("Out[3]: 5") == ok("5", 5)
    assert observe_code("'abc'\n") == ok("abc", "abc")
    assert observe_code("Out[12]: [1, (2, 3)]\n") == ok("[1, (2, 3)]", [1, [2, 3]])
    assert observe_code("hello world\n") == ok("hello world\n", "hello world\n")
    assert observe_code("Out[1]: 1\nOut[2]: 2\n") == ok(" 1\n 2\n", " 1\n 2\n")
    assert observe_code("  \n") == ok("  \n", "  \n")
    assert observe_code("{1, 2}\n") == {"observation": "{1, 2}", "value": None, "literal": False}
    assert observe_code("Traceback (most recent call last):\nValueError: x\n")["observation"] == (
        "Traceback (most recent call last):\nValueError: x\n"
    )


def test_observe_code_truncates_before_reading():
    long = "[" + ", ".join(["1"] * 1500) + "]"
    result = observe_code(long)
    assert result["observation"] == long[:2000] + "...\n[Output Truncated]"
    assert result["value"] == result["observation"]
    # A literal with no JSON form (an int past 64 bits) keeps its observation, without a value.
    assert observe_code("7" * 2000) == {"observation": "7" * 2000, "value": None, "literal": False}


def test_observe_code_survives_pathological_text():
    for text in ["[" * 100_000 + "]" * 100_000, "-" * 5000 + "1", "(" * 150 + ")" * 150, "1\x00", "\ud800"]:
        result = observe_code(text)
        assert isinstance(result["observation"], str)
    deep = "[" * 150 + "]" * 150
    assert observe_code(deep) == {"observation": deep, "value": None, "literal": False}
    shallow = "[" * 50 + "]" * 50
    assert observe_code(shallow)["literal"] is True


def read_emitted(capsys):
    out = capsys.readouterr().out
    assert out.endswith("\n") and len(out.splitlines()) == 1
    assert out.startswith("\x1fcodeact-eval ")
    return json.loads(out[len("\x1fcodeact-eval ") :])


def test_emit_prints_one_line(capsys):
    harness.emit("start", "message_decoder", ["reverse_string"])
    assert read_emitted(capsys) == {"tools": ["reverse_string"]}
    harness.emit("call_text", "reverse_string, a\nb")
    assert read_emitted(capsys) == ok("b\na", "b\na")
    # Text stays as it is, but for the characters that some readers take for line ends.
    harness.emit("call_json", '{"tool": "reverse_string", "args": ["\\u00e9\\u2028\\u0085\\r"]}')
    out = capsys.readouterr().out
    assert "\u00e9" in out and "\u2028" not in out and "\x85" not in out and "\r" not in out
    assert json.loads(out[len(harness.PREFIX) :]) == ok("\r\x85\u2028\u00e9", "\r\x85\u2028\u00e9")
    harness.emit("observe_code", "Out[1]: 2")
    assert read_emitted(capsys) == ok("2", 2)
    harness.emit("check_vectors", "")
    assert read_emitted(capsys) == {"failures": [], "passed": 0, "total": 0}


def test_emit_reports_errors(capsys):
    harness.emit("start", "nope", [])
    error = read_emitted(capsys)["error"]
    assert error.startswith("ValueError: unknown domain 'nope'")
    harness.emit("launch")
    assert read_emitted(capsys)["error"].startswith("ValueError: unknown function 'launch'")
    harness.emit("observe_code")
    assert read_emitted(capsys)["error"].startswith("TypeError: ")


def test_emit_replaces_lone_surrogates(capsys):
    harness.start("trade_calculator", ["calculator"])
    harness.emit("call_text", "calculator, '\\ud800x'")
    assert read_emitted(capsys) == ok("\ufffdx", "\ufffdx")


def test_emit_as_the_rust_side_runs_it(capsys):
    session = {}
    cell = '__import__("codeact_m3tooleval.harness", fromlist=["emit"]).emit("start", "{}", {}, globals())'
    exec(cell.format("travel_itinerary_planning", '["sum", "max"]'), session)  # noqa: S102 - a session cell
    assert read_emitted(capsys) == {"tools": ["sum", "max"]}
    assert set(session) == {"__builtins__", "sum", "max"}
    exec("print(sum(1, 2, 3.5), max([4, 9]))", session)  # noqa: S102 - a session cell
    assert capsys.readouterr().out == "6.5 9\n"
