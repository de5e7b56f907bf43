"""Task preparation inside the session: task texts (FORMAT.md §4) and the executor's state (§5.5).

* ``table_prompt(task)`` -> the WikiTableQuestions task text; the table is pandas'
  ``str(df.head())`` printed with every column on one line, as in the released rows.
* ``code_task_text(task)`` -> the APPS task text.
* ``setup(task, tool_names=())`` -> ``{"names": [...]}``: makes the session look like MINT's
  fresh executor for the task (see its docstring); the names are those the model's code sees.
* ``leave_cell_uncounted()``: the running cell (a harness call) takes no number, so that the
  model's cells are numbered as in MINT, where checks ran outside the executor.

Tasks are the JSON objects of taskformat.md. A table is ``{"columns": [...], "rows": [[...]]}``
whose cells are strings or numbers; it becomes a DataFrame the way the original's CSV files
did (pandas' ``read_csv`` infers each column's type, and an empty cell is missing).
"""

import csv
import io
import re
import sqlite3
import sys

from . import limits

TABLE_HEAD = "Given the following table (only the first 5 rows are shown):\n{table}\n\n"
TABLE_SQL = (
    "Write a SQL query to find the answer to the question: {question}.\n"
    "The SQLite3 database is preloaded for you and can be accessed within <execute> block via the variable "
    "`conn` (SQLite3 connection object).\n"
    "The table name is `data_table`."
)
TABLE_PANDAS = (
    "Write a Pandas query to find the answer to the question: {question}.\n"
    "The dataframe is preloaded for you and can be accessed within <execute> block via the variable `df`."
)
CODE_WITH_FUNCTION = "\nYou should complete the provided starter code by filling in the function body for {fn_name}."
CODE_WITH_STDIN = "\nYou should write code that expect inputs from stdin and print outputs (to stdout)."

# IPython's numbered names of inputs and outputs (_i3, _3).
_NUMBERED = re.compile(r"_i?\d+")
_HISTORY_NAMES = ("_i", "_ii", "_iii", "_", "__", "___")

# The one-shot callback that renumbers cells, while it waits for the end of the setup cell.
_pending = {"shell": None, "callback": None}


def table_frame(task):
    """The task's table as a DataFrame (read_csv's types; an empty or null cell is missing)."""
    import pandas as pd

    table = task["table"]
    columns = list(table["columns"])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for number, row in enumerate(table["rows"]):
        if len(row) != len(columns):
            raise ValueError(f"table row {number} has {len(row)} cells for {len(columns)} columns")
        writer.writerow(["" if cell is None else cell for cell in row])
    return pd.read_csv(io.StringIO(buffer.getvalue()))


def table_prompt(task):
    """The WTQ task text of ``task`` (``table_mode`` "sql" or "pandas")."""
    import pandas as pd

    df = table_frame(task)
    # All columns on one line, none elided: what the released rows show for wide tables.
    with pd.option_context("display.max_columns", None, "display.expand_frame_repr", False):
        head = str(df.head())
    mode = task.get("table_mode")
    if mode not in ("sql", "pandas"):
        raise ValueError(f"table_mode must be 'sql' or 'pandas', not {mode!r}")
    question = (TABLE_SQL if mode == "sql" else TABLE_PANDAS).format(question=task["question"])
    return TABLE_HEAD.format(table=head) + question


def code_task_text(task):
    """The APPS task text: the question and a line break, the starter code if any, then the
    sentence for a call-based (``fn_name``) or a standard-input problem."""
    text = task["question"] + "\n" + (task.get("starter_code") or "")
    fn_name = task.get("fn_name")
    if fn_name:
        return text + CODE_WITH_FUNCTION.format(fn_name=fn_name)
    return text + CODE_WITH_STDIN


def task_objects(task):
    """The names a task puts into the session: ``conn`` (an in-memory SQLite database with the
    table as ``data_table``) for SQL tables, ``df`` and ``pd`` for pandas tables, else none."""
    if not task or task.get("type") != "table":
        return {}
    import pandas as pd

    df = table_frame(task)
    if task.get("table_mode") == "sql":
        conn = sqlite3.connect(":memory:")
        df.to_sql("data_table", conn, if_exists="replace", index=False)
        return {"conn": conn}
    if task.get("table_mode") == "pandas":
        return {"df": df, "pd": pd}
    raise ValueError(f"table_mode must be 'sql' or 'pandas', not {task.get('table_mode')!r}")


def setup(task, tool_names=(), shell=None):
    """Make the session (``shell``, default the running IPython) MINT's executor for ``task``:

    * the user namespace keeps IPython's own names, the tools named in ``tool_names`` (loaded
      before, with ``load_tools``) and gets the task's objects (``task_objects``); every other
      name goes, and so do the numbered input and output names and the history;
    * every later cell has the 30 s limit (limits.install_cell_limit);
    * the next cell is ``In[1]``/``Out[1]``: inside a cell this takes effect when the cell
      ends, since IPython counts the running cell afterwards (IPython 8) or has counted it
      already (IPython 9).

    Returns ``{"names": [...]}``, the sorted names the model's code sees besides IPython's."""
    shell = _shell(shell)
    namespace = shell.user_ns
    missing = [name for name in tool_names if name not in namespace]
    if missing:
        raise ValueError(f"tools not loaded into the session: {missing}")
    objects = task_objects(task)
    _clear_namespace(shell, set(tool_names) | set(objects))
    namespace.update(objects)
    limits.install_cell_limit(shell)
    # MINT's executor printed tracebacks in IPython's default mode (Context: the cell's frame
    # with numbered source lines, then each library frame), not the worker's Plain one.
    shell.InteractiveTB.set_mode(mode="Context")
    _restart_numbering(shell)
    return {"names": sorted(name for name in namespace if _visible(shell, name))}


def _shell(shell):
    if shell is not None:
        return shell
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("no IPython shell runs here")
    return shell


def _visible(shell, name):
    return name not in shell.user_ns_hidden and not (name.startswith("__") and name.endswith("__"))


def _clear_namespace(shell, keep):
    namespace, hidden = shell.user_ns, shell.user_ns_hidden
    if shell.displayhook.do_full_cache:
        # Drops the numbered outputs (_3) and empties Out.
        shell.displayhook.flush()
    for name in list(namespace):
        if name in keep:
            continue
        if _NUMBERED.fullmatch(name):
            del namespace[name]
            hidden.pop(name, None)
        elif _visible(shell, name):
            del namespace[name]
    for name in _HISTORY_NAMES:
        if name in namespace:
            namespace[name] = ""


def _restart_numbering(shell):
    history = shell.history_manager
    if history is not None:
        # In and _ih are these lists: empty them in place, keeping the unused entry 0.
        history.input_hist_parsed[:] = [""]
        history.input_hist_raw[:] = [""]
        history.output_hist.clear()
        for name in ("_i00", "_i", "_ii", "_iii"):
            if hasattr(history, name):
                setattr(history, name, "")
        for name in ("output_hist_reprs", "exceptions"):
            store = getattr(history, name, None)
            if isinstance(store, dict):
                store.clear()
    _drop_pending()
    if shell.displayhook.exec_result is None:
        # Not inside a cell: the next cell is simply number 1.
        shell.execution_count = 1
        return

    def renumber(result=None):
        shell.execution_count = 1
        _drop_pending()

    shell.events.register("post_run_cell", renumber)
    _pending["shell"], _pending["callback"] = shell, renumber


def _drop_pending():
    shell, callback = _pending["shell"], _pending["callback"]
    if shell is not None and callback in shell.events.callbacks.get("post_run_cell", ()):
        shell.events.unregister("post_run_cell", callback)
    _pending["shell"] = _pending["callback"] = None


def leave_cell_uncounted(shell=None):
    """When called inside a cell of the running IPython: once the cell ends, the cell count is
    back where it was before the cell, and its input is gone from ``In`` and ``_i<N>``
    (``_i``, ``_ii`` and ``_iii`` still shift). Outside a cell, or without IPython, nothing."""
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell.displayhook, "exec_result", None) is None:
        return

    def uncount(result=None):
        shell.events.unregister("post_run_cell", uncount)
        number = getattr(result, "execution_count", None)
        if not isinstance(number, int):
            return
        # The result holds the cell's own number, in IPython 8 and 9 alike.
        shell.execution_count = number
        history = shell.history_manager
        if history is not None:
            del history.input_hist_parsed[number:]
            del history.input_hist_raw[number:]
        shell.user_ns.pop(f"_i{number}", None)
        shell.user_ns_hidden.pop(f"_i{number}", None)

    shell.events.register("post_run_cell", uncount)
