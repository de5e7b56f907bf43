"""CodeActInstruct-style trajectory generation: the parts that run inside a sandboxed session.

The Rust side runs the MINT protocol (FORMAT.md §5: prompt, turns, count-down, observation
text) and calls the functions below through ``emit``. Facts come from the pack under
``shared/codeactinstruct`` (FORMAT.md, prompts/strings.json) and the task format contract
(taskformat.md); tasks are its JSON objects.

Public functions (all results are JSON values):

* ``check(task, answer)`` - the success check of the task's type (FORMAT.md §5.7):
  ``{"correct": bool, "detail": str}``, plus ``passed``, ``total`` and ``first_failure`` for
  code tasks. ``answer`` is the text of the ``<solution>`` (the program for code tasks).
* ``table_prompt(task)`` - the WikiTableQuestions task text (FORMAT.md §4).
* ``code_task_text(task)`` - the APPS task text (FORMAT.md §4).
* ``load_tools(path_or_source, names)`` - put a user tools module's functions named in
  ``names`` into the session; their ``[i] signature\\ndescription\\n`` prompt entries.
* ``tool_desc(entries)`` - the prompt's tool block made of those entries ("" without tools).
* ``setup(task, tool_names=())`` - the session as MINT's executor for the task: the task's
  objects (``conn``, or ``df`` and ``pd``), no other names besides IPython's and the tools',
  the 30 s cell limit, and the next cell numbered 1. Call it last, after ``load_tools``.
* ``emit(function_name, *args)`` - call one of these and print one result line. Its cell
  takes no number and has no time limit: checks between the model's cells leave their
  numbering as MINT's.
"""

import json

from . import apps, limits, math_grader, qa, tasks, tools, wtq
from .jsonsafe import without_surrogates

PREFIX = "\x1fcodeact-eval "
# Each line must fit the engine's output limit (64 KiB) with room to spare.
MAX_LINE_CHARS = 60_000
# A check's detail quotes the answer, which may be long.
MAX_DETAIL_CHARS = 2000

__all__ = ["check", "code_task_text", "emit", "load_tools", "setup", "table_prompt", "tool_desc"]


def check(task, answer):
    """The success check of ``task["type"]`` (math, qa, table, code) on ``answer``."""
    kind = task.get("type")
    if kind == "math":
        result = math_grader.grade(answer, task["reference"])
    elif kind == "qa":
        result = qa.grade(answer, task["reference"])
    elif kind == "table":
        result = wtq.grade(answer, task["reference"])
    elif kind == "code":
        result = apps.grade(answer, task["tests"], task.get("fn_name"))
    else:
        raise ValueError(f"unknown task type {kind!r}")
    if len(result["detail"]) > MAX_DETAIL_CHARS:
        result["detail"] = result["detail"][:MAX_DETAIL_CHARS] + "..."
    return result


def table_prompt(task):
    return tasks.table_prompt(task)


def code_task_text(task):
    return tasks.code_task_text(task)


def setup(task, tool_names=()):
    return tasks.setup(task, tool_names)


def load_tools(path_or_source, names):
    return tools.load_tools(path_or_source, names)


def tool_desc(entries):
    return tools.tool_desc(entries)


_PUBLIC = {
    "check": check,
    "code_task_text": code_task_text,
    "load_tools": load_tools,
    "setup": setup,
    "table_prompt": table_prompt,
    "tool_desc": tool_desc,
}


def emit(function_name, *args):
    """Call a public function and print ONE line: PREFIX + JSON (ASCII) of its result, or
    PREFIX + ``{"error": "<Type>: <message>"}``. The cell it runs in is the harness's, not the
    model's: the cell limit does not apply to it and it takes no cell number."""
    limits.disarm_cell_alarm()
    # Registered before the call, so that setup's renumbering runs after it.
    tasks.leave_cell_uncounted()
    try:
        if function_name not in _PUBLIC:
            raise KeyError(f"no public function {function_name!r}")
        line = PREFIX + json.dumps(without_surrogates(_PUBLIC[function_name](*args)), allow_nan=False)
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(f"the result of {function_name} is {len(line)} characters long, over {MAX_LINE_CHARS}")
    except Exception as error:  # noqa: BLE001 - every failure goes back to the Rust side as one error line
        line = PREFIX + json.dumps({"error": f"{type(error).__name__}: {error}"[:4000]})
    print(line, flush=True)
