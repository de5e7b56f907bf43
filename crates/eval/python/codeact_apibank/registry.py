"""How a simulated API is called and what its result object looks like.

Facts from the pack's apis.json ``conventions.RESULT``: every call returns ``{api_name, input,
output, exception}``; an error inside the operation becomes ``exception`` (its text) with
``output = None``; ``input`` echoes the coerced arguments in parameter order. DeleteAccount,
ForgotPassword and RegisterUser results have no ``api_name``; GetToday's input is None. Errors
before the operation (missing arguments, the Translate restore crash, a computation that never
ends) are not results: the call itself fails (CallFailed).
"""

from .dataset import interfaces

REGISTRY = {}


class CallFailed(Exception):
    """The call raised instead of returning a result; the evaluator scores the sample incorrect."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind

    def describe(self):
        return f"{self.kind}: {self}"


def api(name, echo="declared", with_name=True):
    """Register an operation. ``echo``: "declared" (every declared parameter in order, None when an
    optional one is absent), "given" (the first parameter, then the given ones in the order given),
    or "none" (GetToday)."""

    def register(operation):
        REGISTRY[name] = (operation, echo, with_name)
        return operation

    return register


def _missing_message(name, missing):
    quoted = [f"'{p}'" for p in missing]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    plural = "argument" if len(missing) == 1 else "arguments"
    return f"{name}.call() missing {len(missing)} required positional {plural}: {listed}"


def _echo(style, declared, args):
    if style == "none":
        return None
    if style == "given":
        first = declared[0]
        return {first: args[first], **{k: v for k, v in args.items() if k != first}}
    return {p: args.get(p) for p in declared}


def call(db, name, args):
    """Run API ``name`` with coerced ``args`` on ``db``; the result object, or CallFailed."""
    operation, echo, with_name = REGISTRY[name]
    iface = interfaces()[name]
    declared = list(iface["input_types"])
    missing = [p for p in iface["required"] if p not in args]
    if missing:
        raise CallFailed("TypeError", _missing_message(name, missing))
    echoed = _echo(echo, declared, args)
    try:
        output, exception = operation(db, **{p: args.get(p) for p in declared}), None
    except CallFailed:
        raise
    except Exception as error:  # noqa: BLE001 - the original's call() returns every error as the result's text
        output, exception = None, str(error)
    result = {"api_name": name} if with_name else {}
    result.update({"input": echoed, "output": output, "exception": exception})
    return result
