"""Meeting APIs: AddMeeting, DeleteMeeting, ModifyMeeting, QueryMeeting. Behaviour from each API's
``behavior`` in the pack's apis.json; ``attendees`` is stored exactly as passed (quirk Q8: a string
unless a JSON reply held a real list).
"""

from .database import ApiError
from .dates import DATETIME, strptime
from .registry import api


@api("AddMeeting")
def add_meeting(db, token, meeting_topic, start_time, end_time, location, attendees):
    strptime(start_time, DATETIME)
    strptime(end_time, DATETIME)
    if not meeting_topic.strip():
        raise ApiError("Meeting Topic should not be null")
    username = db.token_user(token)
    meetings = db.table("Meeting")
    key = str(max(int(k) for k in meetings) + 1) if meetings else "0"
    meetings[key] = {
        "username": username,
        "meeting_topic": meeting_topic,
        "start_time": start_time,
        "end_time": end_time,
        "location": location,
        "attendees": attendees,
    }
    return "success"


def _find(db, token, meeting_topic, start_time, end_time):
    """Shared validation and FIRST_MATCH of Delete/Modify/QueryMeeting: (table, key)."""
    if start_time:
        strptime(start_time, DATETIME)
    if end_time:
        strptime(end_time, DATETIME)
    if not meeting_topic.strip() and not start_time:
        raise ApiError("Meeting Topic and start_time should not be null both")
    username = db.token_user(token)
    meetings = db.table("Meeting")
    for key, record in meetings.items():
        if record["username"] == username and (
            record["meeting_topic"] == meeting_topic or record["start_time"] == start_time
        ):
            return meetings, key
    if meeting_topic:
        raise ApiError(f"You have no meeting about {meeting_topic}")
    raise ApiError(f"You have no meeting at time : {start_time}")


@api("DeleteMeeting")
def delete_meeting(db, token, meeting_topic, start_time, end_time, location, attendees):
    meetings, key = _find(db, token, meeting_topic, start_time, end_time)
    del meetings[key]
    return "success"


@api("ModifyMeeting")
def modify_meeting(db, token, meeting_topic, start_time, end_time, location, attendees):
    meetings, key = _find(db, token, meeting_topic, start_time, end_time)
    record = meetings[key]
    if meeting_topic:
        record["meeting_topic"] = meeting_topic
    if start_time:
        record["start_time"] = start_time
        record["end_time"] = end_time
    return "success"


@api("QueryMeeting")
def query_meeting(db, token, meeting_topic, start_time, end_time, location, attendees):
    meetings, key = _find(db, token, meeting_topic, start_time, end_time)
    return meetings[key]
