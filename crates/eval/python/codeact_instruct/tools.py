"""User tools: a Python module's functions made available to the model's code, and their
descriptions for the prompt (FORMAT.md §5.2, prompts/strings.json).

* ``load_tools(path_or_source, names, namespace=None)`` -> ``[entry, ...]``: runs the module
  (a ``.py`` file's path, or its source text), puts the functions named in ``names`` into
  ``namespace`` (default: the running IPython's user namespace) and returns one entry per
  function, in that order: ``[i] {signature}\\n{description}\\n`` with ``i`` from 1, the
  signature ``name(params) -> ret`` as ``inspect.signature`` writes it
  (``wikipedia_search(query: str) -> str``), the description the function's cleaned
  docstring.
* ``tool_desc(entries)`` -> the prompt's ``{tool_desc}``: the header line and the entries, or
  "" without tools.
"""

import inspect
import linecache
import sys
import types

HEADER = "Tool function available (already imported in <execute> environment):\n"
ENTRY = "[{i}] {signature}\n{description}\n"
MODULE_NAME = "codeact_user_tools"


def load_tools(path_or_source, names, namespace=None):
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            raise RuntimeError("no IPython shell runs here")
        namespace = shell.user_ns
    module = _run_module(path_or_source)
    if names is None:
        names = public_functions(module)
    entries = []
    for i, name in enumerate(names, start=1):
        function = module.__dict__.get(name)
        if not callable(function):
            raise ValueError(f"the tools module has no function {name!r}")
        namespace[name] = function
        entries.append(ENTRY.format(i=i, signature=signature_text(name, function), description=description(function)))
    return entries


def public_functions(module):
    """The module's own public functions, in definition order (not the ones it imports)."""
    return [
        name
        for name, value in module.__dict__.items()
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__
    ]


def tool_desc(entries):
    return HEADER + "".join(entries) if entries else ""


def _run_module(path_or_source):
    text = str(path_or_source)
    if "\n" not in text and text.strip().endswith(".py"):
        filename = text.strip()
        with open(filename, encoding="utf-8") as f:
            source = f.read()
    else:
        filename, source = "<tools>", text
    # The source stays readable for tracebacks through the tools after the file is gone
    # (no modification time: linecache keeps such entries).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = filename
    # Registered, so that what needs its module (dataclasses, pickle) finds it.
    sys.modules[MODULE_NAME] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


class _Written:
    """An annotation left as text (postponed evaluation that cannot be evaluated here), shown as
    written instead of as a quoted string."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def signature_text(name, function):
    """``name(params) -> ret`` (no arrow without a return annotation)."""
    try:
        signature = inspect.signature(function, eval_str=True)
    except (TypeError, NameError, SyntaxError, AttributeError):
        # No eval_str before Python 3.10, or annotations that do not evaluate.
        signature = inspect.signature(function)
    parameters = [
        parameter.replace(annotation=_Written(parameter.annotation))
        if isinstance(parameter.annotation, str)
        else parameter
        for parameter in signature.parameters.values()
    ]
    returns = signature.return_annotation
    if isinstance(returns, str):
        returns = _Written(returns)
    return name + str(signature.replace(parameters=parameters, return_annotation=returns))


def description(function):
    return inspect.getdoc(function) or ""
