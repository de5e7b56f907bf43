"""Scoring gold replies: the original's verdicts sample by sample, its quirks, and corrected scoring."""

import json
import re

import pytest
from apibank_pack import gold_by_mode, reference_scores

import codeact_apibank as cb

MEETING_PAIR = (
    "AddAgenda-AddMeeting-GetUserToken-level-2-3.jsonl#1",
    "AddAgenda-AddMeeting-GetUserToken-level-2-3.jsonl#2",
)


def _score_all(mode, corrected):
    cb.reset(mode, corrected)
    return [(g, cb.score(g["sample"], mode, g["reply"], corrected=corrected)) for g in gold_by_mode(mode)]


@pytest.mark.parametrize("mode", cb.MODES)
def test_gold_replies_give_the_original_verdicts(mode):
    scored = _score_all(mode, False)
    assert [(g["sample"], v["correct"]) for g, v in scored] == [(g["sample"], g["original_correct"]) for g, _ in scored]
    reference = reference_scores()["modes"][mode]
    assert sum(v["correct"] for _, v in scored) == reference["correct"] == {"json_as_action": 338}.get(mode, 332)
    per_api = {}
    for g, v in scored:
        counts = per_api.setdefault(g["api_name"], {"correct": 0, "total": 0})
        counts["correct"] += v["correct"]
        counts["total"] += 1
    assert per_api == reference["per_api"]
    for _, v in scored:
        json.dumps(v, allow_nan=False)
        assert v["corrections"] == []


@pytest.mark.parametrize("mode", cb.MODES)
def test_failure_causes_match_the_original_reasons(mode):
    failures = {f["sample"]: f["original_reason"] for f in reference_scores()["modes"][mode]["failures"]}
    translate_crashes = 0
    for g, v in _score_all(mode, False):
        reason = failures.get(g["sample"])
        if reason is None:
            assert v["cause"] == "ok"
            continue
        if g["api_name"] == "Translate":
            # Which Translate sample meets the ALL_PROXY crash depends on the original's file order.
            translate_crashes += v["cause"] == "call_failed: TypeError: str expected, not NoneType"
            assert v["cause"] in ("check_failed", "call_failed: TypeError: str expected, not NoneType")
        elif reason.startswith("check returned false; produced result: "):
            assert v["cause"] == "check_failed"
            expected = re.sub(r"0x[0-9a-f]+", "0x?", reason.split("produced result: ", 1)[1])
            got = re.sub(r"0x[0-9a-f]+", "0x?", str(v["result"]))
            assert got.startswith(expected[:-3]) if expected.endswith("...") else got == expected
        elif reason.startswith("check raised: KeyError: "):
            assert v["cause"] == "check_raised: KeyError " + reason.split("KeyError: ")[1].split(" ")[0]
        elif reason.startswith("call raised: AssertionError: "):
            assert v["cause"] == "bad_argument: " + reason[len("call raised: ") :]
        else:
            assert reason.startswith("parse error: ")
            assert v["cause"] == "parse_error: " + reason[len("parse error: ") :]
        assert v["needs_network"] == (g["api_name"] in ("Dictionary", "Translate"))
    assert translate_crashes == 1


def test_checks_mutate_the_ground_truth_per_mode_until_reset():
    first, second = MEETING_PAIR
    reply = next(g["reply"] for g in gold_by_mode("json_as_action") if g["sample"] == second)
    for mode in ("json_as_action", "code_as_action"):
        cb.reset(mode)
    assert cb.score(first, "json_as_action", reply)["cause"] == "check_failed"
    assert cb.score(second, "json_as_action", reply)["cause"] == "check_raised: KeyError 'meeting_topic'"
    # Another mode has its own state; so has corrected scoring.
    assert cb.score(second, "code_as_action", "[AddMeeting(token='x', meeting_topic='y')]")["cause"].startswith(
        "call_failed: TypeError"
    )
    assert cb.score(second, "json_as_action", reply, corrected=True)["correct"]
    cb.reset("json_as_action")
    assert cb.score(second, "json_as_action", reply)["cause"] == "check_failed"


def test_a_crashing_check_is_scored_incorrect_with_its_cause():
    sample = "AddAgenda-AddAlarm-GetUserToken-level-2-1.jsonl#2"
    reply = (
        '[{"action": "AddAgenda", "token": "o8i7u6y5t4r3e2w1q0", "content": 5, '
        '"time": "2023-09-12 14:00:00", "location": "office"}]'
    )
    verdict = cb.score(sample, "json_as_action", reply)
    assert verdict["correct"] is False
    assert verdict["cause"] == "check_raised: AttributeError: 'int' object has no attribute 'split'"
    assert verdict["result"]["exception"] == "'int' object has no attribute 'strip'"


@pytest.mark.parametrize(
    ("mode", "reply", "cause"),
    [
        ("code_as_action", "I will call it.", "no_api_call"),
        ("code_as_action", "[GetToda)]", "parse_error: ValueError: No valid action found in text"),
        (
            "json_as_action",
            '[{"username": "JaneSmith"}]',
            "parse_error: APIParseError: No valid action found. You should provide the action name with key "
            '"action" in json.',
        ),
        ("text_as_action", "[Action: GetToday, ]", "name_mismatch: got 'GetToday', expected 'GetUserToken'"),
        (
            "code_as_action",
            "[GetUserToken(user='JaneSmith')]",
            "bad_argument: AssertionError: invalid parameter name. parameter: user",
        ),
        ("code_as_action", "[GetUserToken(username='JaneSmith')]", None),
        ("code_as_action", "[GetUserToken(username='JaneSmith', password='x')]", "check_failed"),
        ("code_as_action", "[GetUserToken(username='JaneSmith', password='password')]", "ok"),
    ],
)
def test_causes(mode, reply, cause):
    verdict = cb.score("AddAgenda-AddAlarm-GetUserToken-level-2-1.jsonl#0", mode, reply)
    if cause is None:
        assert verdict["cause"].startswith("call_failed: TypeError: GetUserToken.call() missing 1 required")
    else:
        assert verdict["cause"] == cause
    assert set(verdict) == {"correct", "cause", "span", "name", "args", "result", "needs_network", "corrections"}


def test_corrections_are_named_after_quirks():
    listed = cb.corrections()
    names = [c["name"] for c in listed]
    assert len(set(names)) == len(names)
    assert {"lists_parsed", "zero_arg_calls", "json_bool", "stateful_dialogue", "recorded_drift", "checks_pure"} <= set(
        names
    )
    assert {"multiline_span", "code_values_literal", "text_values"} <= set(names)
    for c in listed:
        assert re.fullmatch(r"Q([1-9]|1[0-9]|20)", c["quirk"]) and c["description"]


# Gold replies under corrected scoring (offline): what remains wrong is the network (9 samples), the 5
# CancelTimedSwitch calls whose device no longer exists in the shipped database, and in code mode the
# 6 GetToday replies, which are the renderer's mangled "[GetToda)]" (not a call).
CORRECTED = {"code_as_action": 379, "text_as_action": 385, "json_as_action": 385}


@pytest.mark.parametrize("mode", cb.MODES)
def test_corrected_scoring_of_gold_replies(mode):
    scored = _score_all(mode, True)
    network = [(g, v) for g, v in scored if v["needs_network"]]
    offline = [(g, v) for g, v in scored if not v["needs_network"]]
    assert len(network) == 9 and not any(v["correct"] for _, v in network)
    assert sum(v["correct"] for _, v in offline) == CORRECTED[mode]
    still_wrong = {g["api_name"] for g, v in offline if not v["correct"]}
    assert still_wrong == ({"CancelTimedSwitch", "GetToday"} if mode == "code_as_action" else {"CancelTimedSwitch"})
    for g, v in scored:
        # A fix never turns a reply the original accepted into a failure.
        assert v["correct"] or not g["original_correct"], g["sample"]
        assert v["corrections"] == [c["name"] for c in cb.corrections() if c["name"] in v["corrections"]]
        json.dumps(v, allow_nan=False)
