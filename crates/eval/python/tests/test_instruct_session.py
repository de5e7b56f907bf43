"""Task preparation in a real IPython InteractiveShell: task texts, user tools and their prompt
entries, setup (task objects, a clean namespace, the 30 s cell limit, numbering from In[1]) and
emit's one-line replies."""

import json
import signal
import sqlite3

import pytest

import codeact_instruct
from codeact_instruct import limits, tasks, tools

PREFIX = "\x1fcodeact-eval "

# A real row's table (oct28_full6728/tabular/wiki_table_questions/nt-9585): its task text shows
# the head of the table exactly so.
SENATE = {
    "columns": ["District", "Senator", "Party", "Caucus", "First elected", "Counties Represented"],
    "rows": [
        [1, "Kenneth P. LaValle", "Republican", "Republican", "1976", "Suffolk"],
        [2, "John J. Flanagan", "Republican", "Republican", "2002", "Suffolk"],
        [3, "Lee Zeldin", "Republican", "Republican", "2010", "Suffolk"],
        [4, "Philip M. Boyle", "Republican", "Republican", "2012", "Suffolk"],
        [5, "Carl L. Marcellino", "Republican", "Republican", "1995\u2020", "Nassau, Suffolk"],
        [6, "Charles J. Fuschillo, Jr.", "Republican", "Republican", "1998", "Nassau"],
    ],
}
SENATE_HEAD = (
    "   District             Senator       Party      Caucus First elected Counties Represented\n"
    "0         1  Kenneth P. LaValle  Republican  Republican          1976              Suffolk\n"
    "1         2    John J. Flanagan  Republican  Republican          2002              Suffolk\n"
    "2         3          Lee Zeldin  Republican  Republican          2010              Suffolk\n"
    "3         4     Philip M. Boyle  Republican  Republican          2012              Suffolk\n"
    "4         5  Carl L. Marcellino  Republican  Republican         1995\u2020      Nassau, Suffolk"
)
QUESTION = "what is the number of republicans elected in 2010?"


def table_task(mode, table=SENATE):
    return {"id": "t1", "type": "table", "question": QUESTION, "table": table, "table_mode": mode, "reference": ["1"]}


WIKI_TOOL = '''
def wikipedia_search(query: str) -> str:
    """The Wikipedia Search tool provides access to a vast collection of articles covering a wide range of topics.
    Can query specific keywords or topics to retrieve accurate and comprehensive information.
    """
    return "Page: " + query


def helper():
    return 1
'''
# prompts/tool_desc_wikipedia.txt of the pack, whose file adds one more line break.
WIKI_TOOL_DESC = (
    "Tool function available (already imported in <execute> environment):\n"
    "[1] wikipedia_search(query: str) -> str\n"
    "The Wikipedia Search tool provides access to a vast collection of articles covering a wide range of topics.\n"
    "Can query specific keywords or topics to retrieve accurate and comprehensive information.\n"
)


# ---------------------------------------------------------------- task texts


def test_table_prompt_sql():
    assert tasks.table_prompt(table_task("sql")) == (
        "Given the following table (only the first 5 rows are shown):\n"
        + SENATE_HEAD
        + "\n\nWrite a SQL query to find the answer to the question: "
        "what is the number of republicans elected in 2010?.\n"
        "The SQLite3 database is preloaded for you and can be accessed within <execute> block via the variable "
        "`conn` (SQLite3 connection object).\n"
        "The table name is `data_table`."
    )


def test_table_prompt_pandas():
    assert tasks.table_prompt(table_task("pandas")) == (
        "Given the following table (only the first 5 rows are shown):\n"
        + SENATE_HEAD
        + "\n\nWrite a Pandas query to find the answer to the question: "
        "what is the number of republicans elected in 2010?.\n"
        "The dataframe is preloaded for you and can be accessed within <execute> block via the variable `df`."
    )


def test_table_types_are_inferred_as_read_csv_does():
    table = {
        "columns": ["Round 1", "Run-off", "Note", "Name"],
        "rows": [["32", "", "a\\nb", "Athens"], [23, None, "x", "Rome"], ["16", 62, "y", "Cape Town"]],
    }
    df = tasks.table_frame({"table": table})
    assert [str(t) for t in df.dtypes[:2]] == ["int64", "float64"]
    head = str(df.head())
    # Missing cells are NaN, and a backslash-n in a cell stays two characters.
    assert "NaN" in head and "a\\nb" in head


def test_table_rows_must_fit_the_columns():
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        tasks.table_frame({"table": {"columns": ["a", "b"], "rows": [[1]]}})


def test_table_prompt_needs_a_mode():
    with pytest.raises(ValueError, match="table_mode"):
        tasks.table_prompt(table_task("csv"))


def test_code_task_texts():
    question = "Return the k-th number.\n\nConstraints:\n1 <= k\n"
    starter = "class Solution:\n    def getKth(self, lo: int, hi: int, k: int) -> int:\n        "
    task = {"question": question, "starter_code": starter, "fn_name": "getKth"}
    assert tasks.code_task_text(task) == (
        question
        + "\n"
        + starter
        + "\nYou should complete the provided starter code by filling in the function body for getKth."
    )
    task = {"question": "Read n, print 2n.", "starter_code": ""}
    assert tasks.code_task_text(task) == (
        "Read n, print 2n.\n\nYou should write code that expect inputs from stdin and print outputs (to stdout)."
    )


# ---------------------------------------------------------------- tools


def test_load_tools_from_source_and_the_tool_block():
    namespace = {}
    entries = tools.load_tools(WIKI_TOOL, ["wikipedia_search"], namespace)
    assert list(namespace) == ["wikipedia_search"]
    assert namespace["wikipedia_search"]("Lisbon") == "Page: Lisbon"
    assert tools.tool_desc(entries) == WIKI_TOOL_DESC
    assert tools.tool_desc([]) == ""


def test_load_tools_from_a_file_numbers_entries_in_order(tmp_path):
    path = tmp_path / "kb_tools.py"
    path.write_text(
        "from __future__ import annotations\n"
        "import dataclasses\n\n"
        "@dataclasses.dataclass\nclass Note:\n    text: str\n\n"
        "def search_notes(query: str, limit: int = 3) -> list[str]:\n"
        '    """Search the notes.\n\n    Returns passages."""\n'
        "    return [Note(query).text] * limit\n\n"
        "def odd(x: NoSuchType) -> 'Also missing':\n"
        "    return x\n\n"
        "def plain(x, *args, **kwargs):\n    pass\n"
    )
    namespace = {}
    entries = tools.load_tools(str(path), ["plain", "search_notes", "odd"], namespace)
    assert entries == [
        "[1] plain(x, *args, **kwargs)\n\n",
        "[2] search_notes(query: str, limit: int = 3) -> list[str]\nSearch the notes.\n\nReturns passages.\n",
        "[3] odd(x: NoSuchType) -> 'Also missing'\n\n",
    ]
    assert namespace["search_notes"]("q", 2) == ["q", "q"]
    # The source stays readable for tracebacks after the file is gone.
    path.unlink()
    import linecache

    assert "def search_notes" in "".join(linecache.getlines(str(path)))


def test_load_tools_rejects_unknown_names():
    with pytest.raises(ValueError, match="no function 'helperx'"):
        tools.load_tools(WIKI_TOOL, ["helperx"], {})
    with pytest.raises(FileNotFoundError):
        tools.load_tools("/nonexistent/tools.py", ["f"], {})


# ---------------------------------------------------------------- a real shell


@pytest.fixture
def shell(monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    # As the session worker configures its shell.
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    fresh = set(shell.user_ns)
    shell.fresh_names = fresh
    previous = signal.getsignal(signal.SIGALRM)
    yield shell
    limits.remove_cell_limit()
    tasks._drop_pending()
    signal.signal(signal.SIGALRM, previous)
    InteractiveShell.clear_instance()


def run(shell, code):
    return shell.run_cell(code, store_history=True)


def emit_cell(function, *args):
    """The cell the Rust side runs: no name added to the session."""
    rendered = ", ".join(f"__import__('json').loads({json.dumps(json.dumps(a))})" for a in args)
    return f"__import__('codeact_instruct', fromlist=['emit']).emit({json.dumps(function)}, {rendered})"


def reply(capsys):
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, lines
    return json.loads(lines[0][len(PREFIX) :])


def test_setup_numbers_the_next_cell_one(shell, capsys):
    for code in ("x = 5", "x + 1", "import os", "1/0"):
        run(shell, code)
    assert shell.execution_count == 5
    run(shell, emit_cell("setup", table_task("pandas"), []))
    assert reply(capsys) == {"names": ["df", "pd"]}
    result = run(shell, "int(df['District'].sum())")
    assert result.execution_count == 1
    assert shell.user_ns["Out"] == {1: 21} and shell.user_ns["_1"] == 21
    assert shell.user_ns["In"] == ["", "int(df['District'].sum())"]
    result = run(shell, "undefined_name")
    assert result.execution_count == 2
    assert isinstance(result.error_in_exec, NameError)
    capsys.readouterr()
    run(shell, "1/0")
    assert "Cell In[3], line 1" in capsys.readouterr().out


def test_setup_leaves_only_ipython_names_task_objects_and_tools(shell, capsys):
    run(shell, emit_cell("load_tools", WIKI_TOOL, ["wikipedia_search"]))
    assert reply(capsys) == [WIKI_TOOL_DESC[len(tools.HEADER) :]]
    for code in ("import os, sys", "secret = 42", "def f():\n    return 1", "f()", "__codeact_install = 1"):
        run(shell, code)
    run(shell, emit_cell("setup", table_task("sql"), ["wikipedia_search"]))
    assert reply(capsys) == {"names": ["conn", "wikipedia_search"]}
    extra = set(shell.user_ns) - shell.fresh_names
    # IPython's own history names (reset) are all that is left besides the task's.
    assert extra - {"conn", "wikipedia_search"} <= {"_i", "_ii", "_iii", "_", "__", "___"}
    assert all(shell.user_ns[name] == "" for name in extra - {"conn", "wikipedia_search"})
    assert not [name for name in shell.user_ns if name.startswith("_i") and name[2:].isdigit()]
    result = run(shell, "conn.execute('SELECT COUNT(*) FROM data_table WHERE \"First elected\" = 2010').fetchone()[0]")
    assert result.result == 1 and result.execution_count == 1
    assert isinstance(shell.user_ns["conn"], sqlite3.Connection)
    assert shell.user_ns["wikipedia_search"]("x") == "Page: x"


def test_setup_needs_the_tools_loaded_first(shell, capsys):
    run(shell, emit_cell("setup", {"type": "qa"}, ["search_notes"]))
    assert reply(capsys) == {"error": "ValueError: tools not loaded into the session: ['search_notes']"}


def test_setup_outside_a_cell_numbers_the_next_cell_one(shell):
    run(shell, "a = 1")
    run(shell, "a")
    assert tasks.setup({"type": "math"}, (), shell) == {"names": []}
    assert run(shell, "2 + 2").execution_count == 1
    assert run(shell, "3").execution_count == 2


def test_setup_twice_installs_one_limit(shell, capsys):
    run(shell, emit_cell("setup", {"type": "math"}, []))
    run(shell, emit_cell("setup", {"type": "math"}, []))
    capsys.readouterr()
    events = shell.events.callbacks
    assert sum(getattr(c, "__name__", "") == "arm" for c in events["pre_run_cell"]) == 1
    assert sum(getattr(c, "__name__", "") == "disarm" for c in events["post_run_cell"]) == 1
    assert not any(getattr(c, "__name__", "") == "renumber" for c in events["post_run_cell"])
    assert run(shell, "1").execution_count == 1


def test_the_cell_limit_stops_a_long_cell(shell, capsys, monkeypatch):
    monkeypatch.setattr(limits, "CELL_LIMIT_SECONDS", 0.5)
    run(shell, emit_cell("setup", {"type": "math"}, []))
    capsys.readouterr()
    result = run(shell, "import time\nfor _ in range(100):\n    time.sleep(0.1)")
    assert isinstance(result.error_in_exec, TimeoutError)
    assert str(result.error_in_exec) == "Timed out after 0.5 seconds."
    assert "TimeoutError: Timed out after 0.5 seconds." in capsys.readouterr().out
    # Disarmed after every cell; the session goes on.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert run(shell, "41 + 1").result == 42
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_limit_is_thirty_seconds_and_armed_during_cells(shell, capsys):
    assert limits.CELL_LIMIT_SECONDS == 30
    run(shell, emit_cell("setup", {"type": "math"}, []))
    capsys.readouterr()
    run(shell, "import signal\nleft = signal.getitimer(signal.ITIMER_REAL)[0]")
    assert 29 < shell.user_ns["left"] <= 30


def test_emit_cells_are_not_under_the_cell_limit(shell, capsys, monkeypatch):
    monkeypatch.setattr(limits, "CELL_LIMIT_SECONDS", 0.5)
    run(shell, emit_cell("setup", {"type": "math"}, []))
    capsys.readouterr()
    task = {"type": "code", "tests": {"inputs": ["1"], "outputs": ["1"]}}
    run(shell, emit_cell("check", task, "import time\ntime.sleep(0.8)\nprint(input())"))
    assert reply(capsys)["correct"] is True


def test_emit_replies_on_one_ascii_line(capsys):
    codeact_instruct.emit("check", {"type": "qa", "reference": "S\u00e3o Paulo"}, "s\u00e3o paulo")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.isascii() and out.startswith(PREFIX)
    assert json.loads(out[len(PREFIX) :])["correct"] is True


def test_emit_reports_errors_as_one_line(capsys):
    codeact_instruct.emit("nope")
    assert json.loads(capsys.readouterr().out[len(PREFIX) :]) == {"error": "KeyError: \"no public function 'nope'\""}
    codeact_instruct.emit("check", {"type": "alfworld"}, "done")
    assert json.loads(capsys.readouterr().out[len(PREFIX) :]) == {"error": "ValueError: unknown task type 'alfworld'"}


def test_emit_refuses_replies_too_long(capsys):
    task = {"question": "x" * 70_000}
    codeact_instruct.emit("code_task_text", task)
    error = json.loads(capsys.readouterr().out[len(PREFIX) :])["error"]
    assert error.startswith("ValueError: the result of code_task_text is")


def test_emit_serves_every_public_function(capsys):
    codeact_instruct.emit("table_prompt", table_task("sql"))
    assert json.loads(capsys.readouterr().out[len(PREFIX) :]).startswith("Given the following table")
    codeact_instruct.emit("code_task_text", {"question": "q", "fn_name": "f"})
    assert json.loads(capsys.readouterr().out[len(PREFIX) :]).endswith("function body for f.")
    codeact_instruct.emit("tool_desc", [])
    assert json.loads(capsys.readouterr().out[len(PREFIX) :]) == ""


def test_emit_replaces_lone_surrogates(capsys):
    task = {"type": "code", "tests": {"inputs": [[1]], "outputs": [1]}, "fn_name": "f"}
    codeact_instruct.emit("check", task, "def f(x):\n    raise ValueError('bad \\ud800 value')")
    out = capsys.readouterr().out
    assert "\\ud800" not in out and "\\ufffd" in out
    assert json.loads(out[len(PREFIX) :])["first_failure"]["error"] == "ValueError: bad \ufffd value"


def test_check_details_are_bounded():
    result = codeact_instruct.check({"type": "table", "reference": ["a"]}, str(["x" * 10] * 2000))
    assert result["correct"] is False and len(result["detail"]) <= codeact_instruct.MAX_DETAIL_CHARS + 3


def test_emit_cells_take_no_number(shell, capsys):
    run(shell, emit_cell("setup", {"type": "math"}, []))
    capsys.readouterr()
    assert run(shell, "x = 1").execution_count == 1
    run(shell, emit_cell("check", {"type": "math", "reference": "2"}, "2"))
    assert reply(capsys) == {"correct": True, "detail": "equal after the mathd normalisation"}
    run(shell, emit_cell("table_prompt", table_task("sql")))
    result = run(shell, "x + 1")
    assert result.execution_count == 2 and shell.user_ns["Out"] == {2: 2}
    assert shell.user_ns["In"] == ["", "x = 1", "x + 1"]
    assert "_i3" not in shell.user_ns and shell.user_ns["_i2"] == "x + 1"
    assert not any(getattr(c, "__name__", "") == "uncount" for c in shell.events.callbacks["post_run_cell"])
