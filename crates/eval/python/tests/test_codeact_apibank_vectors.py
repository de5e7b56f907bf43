"""The pack's 747 vectors through check_vectors, and that a wrong vector is reported."""

import json
import time

from apibank_pack import PACK

from codeact_apibank import check_vectors


def _pack_text():
    return (PACK / "vectors.jsonl").read_text(encoding="utf-8")


def test_all_pack_vectors_pass():
    report = check_vectors(_pack_text())
    assert report["failures"] == []
    assert (report["passed"], report["total"]) == (747, 747)


def test_every_kind_is_present_in_the_pack():
    kinds = {}
    for line in _pack_text().splitlines():
        kind = json.loads(line)["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"dialogue": 389, "extra": 235, "check": 46, "strptime": 28, "parse": 49}


def _vector(predicate):
    for line in _pack_text().splitlines():
        vector = json.loads(line)
        if predicate(vector):
            return vector
    raise AssertionError("no such vector")


def test_a_wrong_expectation_is_one_readable_failure_line():
    vector = _vector(lambda v: v.get("id") == "extra/AddAgenda/3")
    vector["result"]["exception"] = "The token is valid."
    report = check_vectors(json.dumps(vector) + "\n\nnot json\n")
    assert (report["passed"], report["total"]) == (0, 2)
    assert len(report["failures"]) == 2
    assert report["failures"][0].startswith("extra/AddAgenda/3 [extra]: call: got ")
    assert "The token is invalid." in report["failures"][0]
    assert report["failures"][1].startswith("line 3: not a vector")


def test_a_wrong_check_verdict_and_a_wrong_parse_are_reported():
    check = _vector(lambda v: v.get("id") == "check/AddAgenda/0")
    check["check"] = False
    parse = _vector(lambda v: v["kind"] == "parse" and v["note"] == "empty quoted value")
    parse["parsed_params"]["content"] = ""
    report = check_vectors(json.dumps(check) + "\n" + json.dumps(parse))
    assert report["passed"] == 0
    assert "check gave True, expected False" in report["failures"][0]
    assert "parsed 'AddAgenda'" in report["failures"][1]


def test_the_non_terminating_calculator_input_fails_fast():
    vector = _vector(lambda v: v.get("does_not_terminate"))
    assert vector["params"] == {"formula": "-3+5"}
    started = time.monotonic()
    assert check_vectors(json.dumps(vector))["passed"] == 1
    assert time.monotonic() - started < 1.0
