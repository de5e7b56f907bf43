"""Agenda, alarm and reminder APIs (Add/Delete/Modify/Query of each). Behaviour, messages (typos
included: DeleteAgenda says "meeting", ModifyAlarm says "agenda") and key choices from each API's
``behavior`` in the pack's apis.json; quirk Q20 (lenient DeleteAgenda, ModifyAgenda returning an
error object).
"""

from .database import ApiError
from .dates import DATETIME, strptime
from .registry import api


def _first(table, username, match):
    for key, record in table.items():
        if record["username"] == username and match(record):
            return key
    return None


def _next_str_key(table):
    return str(max(int(k) for k in table) + 1) if table else "0"


def _require_content(content):
    if not content.strip():
        raise ApiError("Content should not be null")


@api("AddAgenda")
def add_agenda(db, token, content, time, location):
    strptime(time, DATETIME)
    _require_content(content)
    username = db.token_user(token)
    agenda = db.table("Agenda")
    # The seeded keys are strings; the original adds an integer key.
    agenda[len(agenda) + 1] = {"username": username, "content": content, "time": time, "location": location}
    return "success"


def _agenda_item(db, token, content, time):
    """(username, the Agenda table, the key of the user's first item with this content or at this
    time, or None): the lookup of DeleteAgenda, ModifyAgenda and QueryAgenda."""
    if time:
        strptime(time, DATETIME)
    username = db.token_user(token)
    agenda = db.table("Agenda")
    return username, agenda, _first(agenda, username, lambda r: r["content"] == content or r["time"] == time)


def _no_agenda(content, time):
    """The error of ModifyAgenda and QueryAgenda when no item matched and content or time was given."""
    if content:
        raise ApiError(f"You have no agenda about {content}")
    if time:
        raise ApiError(f"You have no agenda at time : {time}")


@api("DeleteAgenda")
def delete_agenda(db, token, content, time, location):
    _, agenda, key = _agenda_item(db, token, content, time)
    if key is not None:
        del agenda[key]
        return "success"
    if content:
        raise ApiError(f"You have no meeting about {content}")
    if time:
        raise ApiError(f"You have no meeting at time : {time}")
    return "success"


@api("ModifyAgenda")
def modify_agenda(db, token, content, time, location):
    username, agenda, key = _agenda_item(db, token, content, time)
    if key is not None:
        agenda[key] = {"username": username, "content": content, "time": time, "location": location}
        return "success"
    _no_agenda(content, time)
    # Returned, not raised: the output is the error object itself and the exception stays None.
    return Exception("Error")


@api("QueryAgenda")
def query_agenda(db, token, content, time, location):
    _, agenda, key = _agenda_item(db, token, content, time)
    if key is not None:
        return agenda[key]
    _no_agenda(content, time)
    raise ApiError("Error")


@api("AddAlarm")
def add_alarm(db, token, time):
    strptime(time, DATETIME)
    username = db.token_user(token)
    alarms = db.table("Alarm")
    alarms[len(alarms) + 1] = {"username": username, "time": time}
    return "success"


def _alarm_at(db, token, time):
    """The Alarm table and the key of the user's alarm at ``time`` (DeleteAlarm, QueryAlarm)."""
    strptime(time, DATETIME)
    username = db.token_user(token)
    alarms = db.table("Alarm")
    key = _first(alarms, username, lambda r: r["time"] == time)
    if key is None:
        raise ApiError(f"You have no alarm clock at time : {time}")
    return alarms, key


@api("DeleteAlarm")
def delete_alarm(db, token, time):
    alarms, key = _alarm_at(db, token, time)
    del alarms[key]
    return "success"


@api("ModifyAlarm")
def modify_alarm(db, token, from_time, to_time):
    strptime(from_time, DATETIME)
    strptime(to_time, DATETIME)
    username = db.token_user(token)
    alarms = db.table("Alarm")
    key = _first(alarms, username, lambda r: r["time"] == from_time)
    if key is None:
        raise ApiError(f"You have no agenda at time : {from_time}")
    alarms[key] = {"username": username, "time": to_time}
    return "success"


@api("QueryAlarm")
def query_alarm(db, token, time):
    alarms, key = _alarm_at(db, token, time)
    return alarms[key]


def _reminder_key(db, token, content, time):
    strptime(time, DATETIME)
    _require_content(content)
    username = db.token_user(token)
    reminders = db.table("Reminder")
    key = _first(reminders, username, lambda r: r["content"] == content or r["time"] == time)
    if key is None:
        raise ApiError(f"You have no reminder about {content} or at time : {time}")
    return reminders, key


@api("AddReminder")
def add_reminder(db, token, content, time):
    strptime(time, DATETIME)
    _require_content(content)
    username = db.token_user(token)
    reminders = db.table("Reminder")
    reminders[_next_str_key(reminders)] = {"username": username, "content": content, "time": time}
    return "success"


@api("DeleteReminder")
def delete_reminder(db, token, content, time):
    reminders, key = _reminder_key(db, token, content, time)
    del reminders[key]
    return "success"


@api("ModifyReminder")
def modify_reminder(db, token, content, time):
    reminders, key = _reminder_key(db, token, content, time)
    reminders[key]["content"] = content
    reminders[key]["time"] = time
    return "success"


@api("QueryReminder")
def query_reminder(db, token, content, time):
    reminders, key = _reminder_key(db, token, content, time)
    return reminders[key]
