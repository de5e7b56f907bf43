"""The per-API correctness checks: check(produced result, recorded result) -> bool, or an exception.

Facts from each API's ``check`` in the pack's apis.json. A check may raise (KeyError on drifted
recordings, AttributeError on a number where text was expected): the caller scores that incorrect
and reports it (quirk Q12).
"""

from .checks_common import (
    delete_by_time_check,
    device_name,
    jaccard,
    meeting_check,
    norm_date,
    norm_datetime,
    norm_month_day,
    norm_span_time,
    same_all,
    same_io,
    scene_devices,
)


def _content_check(key, lower, *also):
    def check(p, g, ctx):
        if jaccard(p["input"][key], g["input"][key], lower=lower) <= 0.5:
            return False
        return all(p["input"][k] == g["input"][k] for k in also) and same_io(p, g)

    return check


def _stripped(*keys, lower=False):
    def norm(value):
        value = str(value).strip()
        return value.lower() if lower else value

    def check(p, g, ctx):
        return all(norm(p["input"][k]) == norm(g["input"][k]) for k in keys) and same_io(p, g)

    return check


def _symptom(value):
    value = value.strip()
    if not value:
        # The check normalises with the API's own code, which fails on an empty symptom (quirk Q12).
        raise AttributeError("'Exception' object has no attribute 'lower'")
    return value.lower()


def _symptom_check(p, g, ctx):
    return _symptom(p["input"]["symptom"]) == _symptom(g["input"]["symptom"]) and same_io(p, g)


def _appointment(p, g, ctx):
    pi, gi = p["input"], g["input"]
    if pi["patient_name"].strip() != gi["patient_name"].strip():
        return False
    if norm_date(pi["date"]) != norm_date(gi["date"]) or pi["doctor_name"].strip() != gi["doctor_name"].strip():
        return False
    if g["output"] is None and p["output"] is not None:
        return False
    return p["exception"] == g["exception"]


def _modify_registration(p, g, ctx):
    pi, gi = p["input"], g["input"]

    def doctor(value):
        return None if value is None else value.strip()

    return (
        str(pi["appointment_id"]).strip() == str(gi["appointment_id"]).strip()
        and norm_date(pi["new_appointment_date"]) == norm_date(gi["new_appointment_date"])
        and doctor(pi["new_appointment_doctor"]) == doctor(gi["new_appointment_doctor"])
        and same_io(p, g)
    )


def _timed_switch(p, g, ctx):
    if device_name(p, ctx).strip().lower() != device_name(g, ctx).strip().lower():
        return False
    if norm_datetime(p["input"]["time"]) != norm_datetime(g["input"]["time"]):
        return False
    return p["input"]["on"] == g["input"]["on"] and same_io(p, g)


def _cancel_timed_switch(p, g, ctx):
    if device_name(p, ctx).strip().lower() != device_name(g, ctx).strip().lower():
        return False
    return norm_datetime(p["input"]["time"]) == norm_datetime(g["input"]["time"]) and same_io(p, g)


def _query_scene(p, g, ctx):
    if p["input"]["name"].strip().lower() != g["input"]["name"].strip().lower():
        return False
    return scene_devices(p["output"], ctx) == scene_devices(g["output"], ctx) and p["exception"] == g["exception"]


def _health_span(p, g, ctx):
    pi, gi = p["input"], g["input"]
    return (
        pi["user_id"].upper().strip() == gi["user_id"].upper().strip()
        and norm_span_time(pi["start_time"]) == norm_span_time(gi["start_time"])
        and norm_span_time(pi["end_time"]) == norm_span_time(gi["end_time"])
        and same_io(p, g)
    )


def _record_health(p, g, ctx):
    pi, gi = p["input"], g["input"]
    return (
        str(pi["user_id"]).upper().strip() == str(gi["user_id"]).upper().strip()
        and norm_datetime(pi["time"]) == norm_datetime(gi["time"])
        and same_io(p, g)
    )


def _stock(p, g, ctx):
    pi, gi = p["input"], g["input"]
    return (
        pi["stock_code"].upper().strip() == gi["stock_code"].upper().strip()
        and norm_date(pi["date"]) == norm_date(gi["date"])
        and same_io(p, g)
    )


def _search(p, g, ctx):
    def ordered(output):
        if output is None:
            return None
        return sorted(output, key=lambda d: d["title"] + d["abstract"], reverse=True)

    return (
        p["api_name"] == g["api_name"]
        and p["exception"] == g["exception"]
        and ordered(p["output"]) == ordered(g["output"])
    )


def _register_user(p, g, ctx):
    if g["output"] is None and p["output"] is not None:
        return False
    return p["input"] == g["input"] and p["exception"] == g["exception"]


CHECKS = {
    "AddAgenda": _content_check("content", False, "time", "location"),
    "AddAlarm": lambda p, g, ctx: same_all(p, g),
    "AddMeeting": meeting_check,
    "AddReminder": _content_check("content", True, "time"),
    "AppointmentRegistration": _appointment,
    "BookHotel": lambda p, g, ctx: same_all(p, g),
    "Calculator": lambda p, g, ctx: (
        p["input"]["formula"].replace(" ", "") == g["input"]["formula"].replace(" ", "") and same_io(p, g)
    ),
    "CancelRegistration": _stripped("appointment_id"),
    "CancelTimedSwitch": _cancel_timed_switch,
    "DeleteAccount": lambda p, g, ctx: same_all(p, g),
    "DeleteAgenda": lambda p, g, ctx: delete_by_time_check(p, g, "time", ctx),
    "DeleteAlarm": lambda p, g, ctx: same_all(p, g),
    "DeleteMeeting": lambda p, g, ctx: delete_by_time_check(p, g, "time", ctx),
    "DeleteReminder": lambda p, g, ctx: delete_by_time_check(p, g, "time", ctx),
    "DeleteScene": _stripped("name", lower=True),
    "Dictionary": lambda p, g, ctx: same_io(p, g),
    "DocumentQA": _stripped("url", "question"),
    "EmergencyKnowledge": _symptom_check,
    "ForgotPassword": lambda p, g, ctx: same_all(p, g),
    "GetToday": lambda p, g, ctx: p["output"] is not None and p["exception"] is None and p["input"] is None,
    "GetUserToken": lambda p, g, ctx: same_all(p, g),
    "ImageCaption": lambda p, g, ctx: same_all(p, g),
    "ModifyAgenda": _content_check("content", False, "time", "location"),
    "ModifyAlarm": lambda p, g, ctx: same_all(p, g),
    "ModifyMeeting": meeting_check,
    "ModifyPassword": lambda p, g, ctx: same_all(p, g),
    "ModifyRegistration": _modify_registration,
    "ModifyReminder": _content_check("content", True, "time"),
    "OpenBankAccount": lambda p, g, ctx: same_all(p, g),
    "PlayMusic": lambda p, g, ctx: p["output"] == g["output"],
    "QueryAgenda": _content_check("content", False, "time", "location"),
    "QueryAlarm": lambda p, g, ctx: same_all(p, g),
    "QueryBalance": _stripped("token"),
    "QueryHealthData": _health_span,
    "QueryHistoryToday": lambda p, g, ctx: (
        norm_month_day(p["input"]["date"]) == norm_month_day(g["input"]["date"]) and same_io(p, g)
    ),
    "QueryMeeting": meeting_check,
    "QueryRegistration": lambda p, g, ctx: (
        p["input"]["patient_name"].strip() == g["input"]["patient_name"].strip()
        and norm_date(p["input"]["date"]) == norm_date(g["input"]["date"])
        and same_io(p, g)
    ),
    "QueryReminder": _content_check("content", True, "time"),
    "QueryScene": _query_scene,
    "QueryStock": _stock,
    "RecordHealthData": _record_health,
    "RegisterUser": _register_user,
    "SearchEngine": _search,
    "SendEmail": lambda p, g, ctx: (
        p["input"]["receiver"].strip().lower() == g["input"]["receiver"].strip().lower()
        and p["input"]["subject"].strip() == g["input"]["subject"].strip()
        and p["input"]["content"].strip() == g["input"]["content"].strip()
        and same_io(p, g)
    ),
    "SpeechRecognition": lambda p, g, ctx: same_all(p, g),
    "SymptomSearch": _symptom_check,
    "TimedSwitch": _timed_switch,
    "Translate": lambda p, g, ctx: (
        p["api_name"] == g["api_name"] and p["input"]["src"] == g["input"]["src"] and same_io(p, g)
    ),
    "Wiki": lambda p, g, ctx: p["api_name"] == g["api_name"] and same_io(p, g),
}


def run_check(name, produced, recorded, ctx):
    return bool(CHECKS[name](produced, recorded, ctx))
