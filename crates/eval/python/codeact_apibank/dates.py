"""Date parsing as the simulated APIs do it: STRPTIME, NORM_DATE, NORM_DATETIME (pack's apis.json).

STRPTIME is Python's own ``datetime.strptime`` (the pack's strptime vectors pin its texts). The
re-formatting is done here rather than with ``strftime`` because the original ran on Linux, where
``%Y`` of a year below 1000 is not zero-padded ("23-07-07"), and other platforms or newer Pythons
pad it.
"""

import warnings
from datetime import datetime

DATE = "%Y-%m-%d"
DATETIME = "%Y-%m-%d %H:%M:%S"
MONTH_DAY = "%m-%d"


def strptime(text, fmt):
    with warnings.catch_warnings():
        # Python 3.13+ warns about a day of month without a year ('%m-%d'); the parse is unchanged.
        warnings.simplefilter("ignore", DeprecationWarning)
        return datetime.strptime(text, fmt)


def format_as(value, fmt):
    """glibc-style strftime for the three formats the APIs use."""
    if fmt == DATE:
        return f"{value.year}-{value.month:02d}-{value.day:02d}"
    if fmt == DATETIME:
        return f"{value.year}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if fmt == MONTH_DAY:
        return f"{value.month:02d}-{value.day:02d}"
    raise ValueError(f"unsupported format {fmt!r}")


def zero_fill(text):
    """strip; if splitting on '-' gives exactly 3 parts and the first is not 4 long, left-pad it to 4."""
    text = text.strip()
    parts = text.split("-")
    if len(parts) == 3 and len(parts[0]) != 4:
        parts[0] = parts[0].zfill(4)
    return "-".join(parts)


def normalise(text, fmt):
    """NORM_DATE / NORM_DATETIME: the re-formatted text; raises ValueError (or TypeError) on failure."""
    return format_as(strptime(zero_fill(text), fmt), fmt)


def try_normalise(text, fmt):
    """(ok, value-or-error): a failure is kept and never compares equal to anything."""
    try:
        return True, normalise(text, fmt)
    except (ValueError, TypeError, AttributeError) as error:
        return False, error


def same_normalised(a, b, fmt):
    ok_a, value_a = try_normalise(a, fmt)
    ok_b, value_b = try_normalise(b, fmt)
    return ok_a and ok_b and value_a == value_b
