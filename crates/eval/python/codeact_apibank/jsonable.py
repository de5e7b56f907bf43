"""Values as strict JSON for the Rust side: non-JSON values become their repr strings.

Dict keys become strings (the original stores some integer keys), tuples become lists, and
non-finite floats (a Calculator overflow) become their repr, since strict JSON has no NaN or
Infinity.
"""

import math


def jsonable(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return repr(value)
