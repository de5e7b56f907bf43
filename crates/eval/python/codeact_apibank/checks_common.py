"""What the per-API checks share: the check context, word-set Jaccard, and the normalisers.

Facts from the pack's apis.json (``conventions`` JACCARD, JACCARD_LC, NORM_DATE, NORM_DATETIME and each
API's ``check``) and PROTOCOL.md §4.6, quirks Q10-Q12.
"""

import copy

from .dates import DATE, DATETIME, MONTH_DAY, format_as, strptime, try_normalise, zero_fill


class CheckContext:
    """How a check runs. ``pure`` and ``drift`` are the checks_pure and recorded_drift corrections;
    ``shadow`` is the recorded result the original would have mutated (kept up to date under
    checks_pure so that ``touched`` can say when the fix changed anything)."""

    def __init__(self, pure=False, drift=False, shadow=None):
        self.pure = pure
        self.drift = drift
        self.shadow = shadow
        self.touched = set()


def jaccard(a, b, lower=False):
    if lower:
        a, b = a.lower(), b.lower()
    words_a, words_b = set(a.split(" ")), set(b.split(" "))
    return len(words_a & words_b) / len(words_a | words_b)


def same_io(p, g):
    return p["output"] == g["output"] and p["exception"] == g["exception"]


def same_all(p, g):
    return p["input"] == g["input"] and same_io(p, g)


def norm_date(value, fmt=DATE):
    """NORM_DATE / NORM_DATETIME for comparison: a failure becomes a value equal to nothing."""
    if value is None:
        return None
    ok, result = try_normalise(value, fmt)
    return result if ok else _Never()


def norm_datetime(value):
    return norm_date(value, DATETIME)


def norm_month_day(value):
    """QueryHistoryToday's normalisation of a date to 'MM-DD' (a failure equals nothing)."""
    try:
        value = value.strip()
        if len(value.split("-")) == 3:
            value = zero_fill(value)
        try:
            return format_as(strptime(value, DATE), MONTH_DAY)
        except ValueError:
            return format_as(strptime(value, MONTH_DAY), MONTH_DAY)
    except (ValueError, TypeError, AttributeError):
        return _Never()


def norm_span_time(value):
    """QueryHealthData's start/end parse (a failure equals nothing)."""
    try:
        return strptime(zero_fill(value), DATETIME)
    except (ValueError, TypeError, AttributeError):
        return _Never()


class _Never:
    """A failed normalisation: unequal to everything, itself included."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = None


def meeting_check(p, g, ctx):
    """AddMeeting / ModifyMeeting / QueryMeeting: topic Jaccard, then the topic is popped from both
    inputs (quirk Q11: the recorded result is mutated, so a repeated sample raises KeyError)."""
    if ctx.pure:
        shadow = ctx.shadow["input"] if ctx.shadow is not None else None
        if shadow is not None and "meeting_topic" not in shadow:
            ctx.touched.add("checks_pure")
        p, g = copy.deepcopy(p), copy.deepcopy(g)
    if jaccard(p["input"]["meeting_topic"], g["input"]["meeting_topic"]) <= 0.5:
        return False
    if ctx.pure and ctx.shadow is not None:
        ctx.shadow["input"].pop("meeting_topic", None)
    p["input"].pop("meeting_topic")
    g["input"].pop("meeting_topic")
    return p["input"] == g["input"] and same_io(p, g)


def delete_by_time_check(p, g, key, ctx):
    """DeleteAgenda / DeleteReminder / DeleteMeeting: when both deleted, only ``input[key]`` counts.
    DeleteMeeting's original reads 'time', which its inputs lack (KeyError, quirk Q11)."""
    if p["output"] == "success" and g["output"] == "success":
        if ctx.pure and key == "time" and "start_time" in g["input"]:
            ctx.touched.add("checks_pure")
            key = "start_time"
        return p["input"][key] == g["input"][key]
    return same_io(p, g)


def device_name(result, ctx):
    """TimedSwitch / CancelTimedSwitch read input['name']; the recordings say device_id (Q10)."""
    source = result["input"]
    if ctx.drift and "name" not in source and "device_id" in source:
        ctx.touched.add("recorded_drift")
        return source["device_id"]
    return source["name"]


def scene_devices(output, ctx):
    """QueryScene's recorded outputs capitalise device names the database stores lower-case (Q10)."""
    if not ctx.drift or not isinstance(output, list):
        return output
    lowered = [
        {**d, "name": d["name"].lower()} if isinstance(d, dict) and isinstance(d.get("name"), str) else d
        for d in output
    ]
    if lowered != output:
        ctx.touched.add("recorded_drift")
    return lowered
