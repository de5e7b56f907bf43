"""min and max over a tuple of tool arguments, as the original tools compute them.

No arguments is a ValueError whose message is spelled out here, the one the pack's vectors
record (Python 3.9 to 3.12 words it so), so that it does not change with the session's Python."""


def smallest(args):
    if not args:
        raise ValueError("min() arg is an empty sequence")
    return min(args)


def largest(args, key=None):
    if not args:
        raise ValueError("max() arg is an empty sequence")
    return max(args, key=key)
