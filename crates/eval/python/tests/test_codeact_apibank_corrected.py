"""Each correction on small replies: what it fixes, and that it names itself in ``corrections``."""

import pytest

import codeact_apibank as cb

TOKEN = "AddAgenda-AddAlarm-GetUserToken-level-2-1.jsonl#0"


def _both(sample, mode, reply):
    for corrected in (False, True):
        cb.reset(mode, corrected)
    return cb.score(sample, mode, reply), cb.score(sample, mode, reply, corrected=True)


def _sample(api_name, file_part=""):
    return next(s["sample"] for s in cb.samples() if s["api_name"] == api_name and file_part in s["file"])


def test_multiline_span():
    original, fixed = _both(TOKEN, "code_as_action", "[GetUserToken(\n username='JaneSmith',\n password='password')]")
    assert original["cause"] == "no_api_call"
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["multiline_span"]
    original, fixed = _both(
        TOKEN, "json_as_action", '[\n  {"action": "GetUserToken", "username": "JaneSmith",\n "password": "password"}\n]'
    )
    assert (original["cause"], fixed["cause"]) == ("no_api_call", "ok")


def test_zero_arg_calls_in_text_mode():
    sample = _sample("GetToday", "GetToday-level-1-1")
    original, fixed = _both(sample, "text_as_action", "[Action: GetToday]")
    assert original["cause"].startswith("parse_error")
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["zero_arg_calls"]


def test_code_values_literal():
    reply = "[GetUserToken('JaneSmith', \"password\")]"
    original, fixed = _both(TOKEN, "code_as_action", reply)
    assert original["cause"].startswith("call_failed: TypeError")
    assert fixed["cause"] == "ok" and fixed["args"] == {"username": "JaneSmith", "password": "password"}
    assert fixed["corrections"] == ["code_values_literal"]


def test_text_values_keep_commas_inside_values():
    sample = _sample("Translate", "Translate-level-1-1")
    original, fixed = _both(sample, "text_as_action", "[Action: Translate, src: 'Hello, how are you?', tgt_lang: fr]")
    assert original["args"] == {"src": "Hello", "tgt_lang": "fr"}
    assert fixed["args"] == {"src": "Hello, how are you?", "tgt_lang": "fr"}
    assert "text_values" in fixed["corrections"] and fixed["needs_network"]


def test_lists_parsed_in_every_mode():
    sample = _sample("AddMeeting", "AddMeeting-level-1-1")
    replies = {
        "code_as_action": "[AddMeeting(token='a9s8d7f6g5h4j3k2l1', meeting_topic='project updates', "
        "start_time='2022-12-15 14:00:00', end_time='2022-12-15 16:00:00', location='conference room', "
        "attendees=['John Smith', 'Jane Doe', 'Adam Lee'])]",
        "text_as_action": "[Action: AddMeeting, token: a9s8d7f6g5h4j3k2l1, meeting_topic: project updates, "
        "start_time: 2022-12-15 14:00:00, end_time: 2022-12-15 16:00:00, location: conference room, "
        "attendees: ['John Smith', 'Jane Doe', 'Adam Lee']]",
        "json_as_action": '[{"action": "AddMeeting", "token": "a9s8d7f6g5h4j3k2l1", '
        '"meeting_topic": "project updates", '
        '"start_time": "2022-12-15 14:00:00", "end_time": "2022-12-15 16:00:00", "location": "conference room", '
        "\"attendees\": \"['John Smith', 'Jane Doe', 'Adam Lee']\"}]",
    }
    for mode, reply in replies.items():
        original, fixed = _both(sample, mode, reply)
        assert original["cause"] == "check_failed", mode
        assert fixed["cause"] == "ok", (mode, fixed)
        # A Python list in code is read as a list by the literal reading itself.
        assert ("code_values_literal" if mode == "code_as_action" else "lists_parsed") in fixed["corrections"]
        assert fixed["result"]["input"]["attendees"] == ["John Smith", "Jane Doe", "Adam Lee"]


def test_json_bool_and_recorded_drift():
    sample = _sample("TimedSwitch", "TimedSwitch-level-1-1")
    reply = '[{"action": "TimedSwitch", "device_id": "12345", "time": "2021-08-05 19:00:00", "on": true}]'
    original, fixed = _both(sample, "json_as_action", reply)
    assert original["cause"] == "bad_argument: AssertionError: invalid parameter name. parameter: device_id"
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["json_bool", "recorded_drift"]
    scene = _sample("QueryScene")
    original, fixed = _both(scene, "code_as_action", "[QueryScene(name='Morning Routine')]")
    assert (original["cause"], fixed["cause"], fixed["corrections"]) == ("check_failed", "ok", ["recorded_drift"])


def test_stateful_dialogue_replays_earlier_calls():
    sample = "ForgotPassword-level-1-1.jsonl#2"
    reply = (
        '[{"action": "ForgotPassword", "status": "Verification Code", "username": "JohnDoe", '
        '"verification_code": 970420, "new_password": "newpass123"}]'
    )
    original, fixed = _both(sample, "json_as_action", reply)
    assert original["result"]["exception"] == "You need to call the API with status 'Forgot Password' at first."
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["stateful_dialogue"]


def test_checks_pure_fixes_delete_meeting():
    sample = _sample("DeleteMeeting")
    reply = (
        '[{"action": "DeleteMeeting", "token": "l9k8j7h6g5f4d3s2a1", "meeting_topic": "New Employee Orientation", '
        '"start_time": "2023-03-27 09:00:00", "end_time": "2023-03-27 11:00:00", "location": "Training Room", '
        '"attendees": ["David Wang", "Amy Chen", "Erica Liu"]}]'
    )
    original, fixed = _both(sample, "json_as_action", reply)
    assert original["cause"] == "check_raised: KeyError 'time'"
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["checks_pure"]


def test_translate_env_only_touches_the_first_translate_call():
    first, second = [s["sample"] for s in cb.samples() if s["api_name"] == "Translate"][:2]
    reply = '[{"action": "Translate", "src": "Hello", "tgt_lang": "fr"}]'
    cb.reset("json_as_action")
    cb.reset("json_as_action", True)
    assert cb.score(first, "json_as_action", reply)["cause"] == "call_failed: TypeError: str expected, not NoneType"
    assert cb.score(second, "json_as_action", reply)["cause"] == "check_failed"
    assert cb.score(first, "json_as_action", reply, corrected=True)["corrections"] == ["translate_env"]
    assert cb.score(second, "json_as_action", reply, corrected=True)["corrections"] == []


@pytest.mark.parametrize("corrected", [False, True])
def test_the_non_terminating_calculator_call_fails_fast(corrected):
    sample = _sample("Calculator")
    verdict = cb.score(sample, "code_as_action", "[Calculator(formula='-3+5')]", corrected=corrected)
    assert verdict["cause"].startswith("call_failed: NonTerminating")


def test_code_arguments_that_close_the_call_early_are_not_a_call():
    sample = cb.samples()[0]["sample"]
    for reply in ("[GetUserToken(a), (b)]", "[GetUserToken(username='x'), (password='y')]"):
        scored = cb.score(sample, "code_as_action", reply, corrected=True)
        assert not scored["correct"]
