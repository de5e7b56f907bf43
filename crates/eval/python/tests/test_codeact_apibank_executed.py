"""Executed code replies (code_of, api_params, score_call) and the emit line format."""

import json

import pytest

import codeact_apibank as cb

TOKEN = "AddAgenda-AddAlarm-GetUserToken-level-2-1.jsonl#0"
SWITCH = next(s["sample"] for s in cb.samples() if s["file"] == "TimedSwitch-level-1-1.jsonl")


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("[GetToday()]", "[GetToday()]"),
        ("x = 1\nGetToday()\n", "x = 1\nGetToday()\n"),
        ("Sure: [GetUserToken(username='a', password='b')] done.", "[GetUserToken(username='a', password='b')]"),
        ("[AddMeeting(attendees='['A', 'B']')]", "[AddMeeting(attendees='['A', 'B']')]"),
        ("No call here, sorry.", None),
        ("", None),
        ("   \n", None),
    ],
)
def test_code_of(reply, code):
    assert cb.code_of(reply) == code


def test_api_params_name_every_api_s_inputs_in_order():
    params = cb.api_params()
    assert len(params) == 49
    assert params["GetUserToken"] == ["username", "password"]
    assert params["GetToday"] == []
    json.dumps(params)


def test_score_call_applies_the_chosen_coercion():
    assert (
        cb.score_call(TOKEN, "code_as_action", "GetUserToken", {"username": "JaneSmith", "password": "password"})[
            "cause"
        ]
        == "ok"
    )
    call = {"name": "12345", "time": "2021-08-05 19:00:00", "on": True}
    original = cb.score_call(SWITCH, "code_as_action", "TimedSwitch", call)
    # The original turns anything but the string 'True' into False, and its check reads the recording's name.
    assert original["result"]["input"]["on"] is False
    assert original["cause"] == "check_raised: KeyError 'name'"
    fixed = cb.score_call(SWITCH, "code_as_action", "TimedSwitch", call, corrected=True)
    assert fixed["cause"] == "ok" and fixed["corrections"] == ["json_bool", "recorded_drift"]
    assert (fixed["span"], fixed["name"], fixed["args"]) == (None, "TimedSwitch", call)
    assert cb.score_call(TOKEN, "code_as_action", "GetToday", {})["cause"].startswith("name_mismatch")


def _emitted(capsys):
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("\x1fcodeact-eval ")
    return json.loads(out[len("\x1fcodeact-eval ") :])


def test_emit_prints_one_prefixed_json_line(capsys):
    reply = "[GetUserToken(username='JaneSmith', password='password')]"
    cb.emit("score", TOKEN, "code_as_action", reply, corrected=False)
    assert _emitted(capsys)["cause"] == "ok"
    cb.emit("samples")
    assert len(_emitted(capsys)) == 399
    cb.emit("reset", "code_as_action")
    assert _emitted(capsys) is None


def test_emit_reports_errors(capsys):
    cb.emit("score", "nope#1", "code_as_action", "[x]")
    assert _emitted(capsys) == {"error": "KeyError: \"unknown or unscored sample: 'nope#1'\""}
    cb.emit("request", TOKEN, "yaml_as_action")
    assert _emitted(capsys)["error"].startswith("ValueError: unknown mode 'yaml_as_action'")
    cb.emit("system")
    assert _emitted(capsys)["error"].startswith("KeyError:")
