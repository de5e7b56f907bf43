"""Validates codeact's CodeActInstruct-style task files and proves their answers right.

Usage: python check_tasks.py [DIR]   (DIR defaults to this file's folder)

Reads DIR/{math,qa,code,table}.jsonl and DIR/kb_tools.py and checks:
- every line against the task-file contract (fields, types, per-type rules; ids unique in a file
  and usable inside a slash-separated row id) plus this set's own rules: every task carries a
  `solution`, math tasks name a MATH subset, code tasks have at least 5 tests, tables 8 to 40 rows;
- every answer: code solutions run against all their tests (call-based: return values; stdin:
  printed output); each `reference_query` is run and must give the reference (math: Python with
  sympy's names that binds `answer`; table: SQL on `data_table`, or a pandas expression over `df`);
  math, qa and table solutions must pass a simplified form of their type's success check;
- the qa tools module: the tools the tasks name exist, and searching an article's title finds it.

Anything the task files make run (solutions, queries) runs in a child process of this script
(`--child`), so a crash or a hang is reported against its task and cannot take the check down.
Prints one line per problem and a summary; exits 1 if there was a problem.
Needs Python 3.9+, sympy and pandas (for the children only).
"""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter

TYPES = ("math", "qa", "code", "table")
MATH_SUBSETS = {
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
}
COMMON_FIELDS = {"id", "type", "task_name", "tools", "solution"}
FIELDS = {
    "math": {"task", "reference"},
    "qa": {"task", "reference"},
    "code": {"question", "starter_code", "fn_name", "tests"},
    "table": {"question", "table", "table_mode", "reference"},
}
# Fields outside the contract that this set uses (see README.md).
EXTENSIONS = {"reference_query"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MIN_TESTS = 5
TABLE_ROWS = (8, 40)
TEST_TIMEOUT_S = 10
CHILD_TIMEOUT_S = 120


# ---------------------------------------------------------------- answer comparison (math)


def _braced(text, start):
    """The text inside the braces opening at `start`, and the index after the closing brace."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise ValueError(f"unbalanced braces in {text!r}")


def latex_to_python(text):
    """Python source for the LaTeX this set's math answers use: \\frac, \\sqrt, \\pi, powers,
    implicit products like `4\\sqrt{2}` or `2x`. Not a general LaTeX reader."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("\\frac", i) or text.startswith("\\dfrac", i):
            i = text.index("{", i)
            num, i = _braced(text, i)
            den, i = _braced(text, i)
            out.append(f" (({latex_to_python(num)})/({latex_to_python(den)})) ")
        elif text.startswith("\\sqrt", i):
            inner, i = _braced(text, text.index("{", i))
            out.append(f" sqrt({latex_to_python(inner)}) ")
        elif text.startswith("\\pi", i):
            out.append(" pi ")
            i += 3
        elif text.startswith("^{", i):
            inner, i = _braced(text, i + 1)
            out.append(f"**({latex_to_python(inner)})")
        elif text[i] == "^":
            out.append("**")
            i += 1
        elif text[i] in "{}":
            out.append(" ( " if text[i] == "{" else " ) ")
            i += 1
        else:
            out.append(text[i])
            i += 1
    # A digit followed by a letter is a product (`2x`).
    return re.sub(r"(\d)\s*([A-Za-z(])", r"\1 \2", "".join(out))


def split_bracketed(text):
    """(open bracket, items, close bracket) if `text` is a bracketed list like `(1,2]`, else None."""
    if len(text) < 2 or text[0] not in "([" or text[-1] not in ")]":
        return None
    items, depth, current = [], 0, ""
    for ch in text[1:-1]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    if len(items) < 2:
        return None
    return text[0], items, text[-1]


def _clean_latex(text):
    for token in ("\\left", "\\right", "\\!", "$"):
        text = text.replace(token, "")
    return text.strip()


def _parse_latex(part):
    from sympy.parsing.sympy_parser import implicit_multiplication, parse_expr, standard_transformations

    return parse_expr(latex_to_python(part), transformations=standard_transformations + (implicit_multiplication,))


def latex_value(latex):
    """The sympy value of a LaTeX answer: a tuple for `(a,b,...)`, an Interval for a pair with a
    square bracket, else a number or an expression. `(a,b)` is read as a tuple; `math_equal` also
    accepts it for an open interval."""
    import sympy

    latex = _clean_latex(latex)
    bracketed = split_bracketed(latex)
    if bracketed is None:
        return _parse_latex(latex)
    opening, items, closing = bracketed
    values = [_parse_latex(item) for item in items]
    if opening + closing == "()":
        return tuple(values)
    if len(values) != 2:
        raise ValueError(f"{latex!r} is neither a tuple nor an interval")
    return sympy.Interval(values[0], values[1], opening == "(", closing == ")")


def math_equal(value, latex):
    """Whether the sympy `value` (a number, an expression, a tuple or an Interval) equals the answer
    written in `latex`: same brackets and count for tuples and intervals, then each part's
    difference simplifies to 0."""
    import sympy

    def same(a, b):
        return sympy.simplify(sympy.sympify(a) - b) == 0

    latex = _clean_latex(latex)
    bracketed = split_bracketed(latex)
    if isinstance(value, sympy.Interval):
        if bracketed is None or len(bracketed[1]) != 2:
            return False
        opening, (lo, hi), closing = bracketed
        return (
            value.left_open == (opening == "(")
            and value.right_open == (closing == ")")
            and same(value.start, _parse_latex(lo))
            and same(value.end, _parse_latex(hi))
        )
    if isinstance(value, (tuple, list)):
        if bracketed is None or bracketed[0] + bracketed[2] != "()" or len(bracketed[1]) != len(value):
            return False
        return all(same(v, _parse_latex(p)) for v, p in zip(value, bracketed[1]))
    if bracketed is not None:
        return False
    return same(value, _parse_latex(latex))


# ---------------------------------------------------------------- answer comparison (qa, table)


def qa_correct(answer, reference):
    """The qa success check: floats within 5% of the reference, else the reference is a substring."""
    answer = answer.lower().strip()
    reference = reference.lower().strip()
    try:
        return abs(float(reference) - float(answer)) <= 0.05 * abs(float(reference))
    except ValueError:
        return reference in answer


def _table_value(text):
    """A table answer's value for comparison: a float if it reads as a number, else normalised text."""
    text = re.sub(r"\s+", " ", str(text)).strip().lower().rstrip(".")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    try:
        return float(text.replace(",", "")) if re.fullmatch(r"-?[\d,]*\.?\d+", text) else text
    except ValueError:
        return text


def table_values_match(predicted, reference):
    """Simplified WTQ comparison: same number of values and every reference value found."""
    if len(predicted) != len(reference):
        return False
    got = [_table_value(p) for p in predicted]
    for ref in map(_table_value, reference):
        if not any((isinstance(ref, float) and isinstance(g, float) and abs(ref - g) < 1e-6) or ref == g for g in got):
            return False
    return True


def table_solution_values(solution):
    """A table solution as the model writes it, read into a list of values (FORMAT.md §5.7)."""
    text = solution.strip()
    if re.fullmatch(r"[\d,]+", text):
        text = text.replace(",", "")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def table_reference(task):
    reference = task["reference"]
    return reference.split("|") if isinstance(reference, str) else reference


# ---------------------------------------------------------------- the child process


def _flatten(value):
    """Every cell of a query result as text: sqlite rows, pandas objects, numpy scalars, lists."""
    if hasattr(value, "values") and hasattr(value, "columns"):  # a DataFrame
        value = value.values.tolist()
    elif hasattr(value, "tolist"):  # Series, Index, ndarray, numpy scalar
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [cell for item in value for cell in _flatten(item)]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [str(value)]


def child_math(job):
    namespace = {}
    exec("from sympy import *", namespace)
    exec(job["code"], namespace)
    answer = namespace["answer"]
    return {
        "answer": str(answer),
        "query_ok": math_equal(answer, job["reference"]),
        "solution_ok": math_equal(latex_value(job["reference"]), job["solution"]),
    }


def child_table(job):
    import sqlite3

    import pandas as pd

    df = pd.DataFrame(job["rows"], columns=job["columns"])
    if job["mode"] == "sql":
        conn = sqlite3.connect(":memory:")
        df.to_sql("data_table", conn, index=False)
        result = conn.execute(job["query"]).fetchall()
    else:
        result = eval(job["query"], {"df": df, "pd": pd})
    return {"values": _flatten(result)}


def child_call(job):
    namespace = {"__name__": "__task__"}
    exec(job["program"], namespace)
    if "Solution" in namespace:
        function = getattr(namespace["Solution"](), job["fn_name"])
    else:
        function = namespace[job["fn_name"]]
    results = []
    for args, expected in zip(job["inputs"], job["outputs"]):
        got = json.loads(json.dumps(function(*args)))
        # APPS sometimes wraps the expected return value in a one-element list.
        results.append(got == expected or [got] == expected)
    return {"passed": results}


def child_main():
    job = json.load(sys.stdin)
    handler = {"math": child_math, "table": child_table, "call": child_call}[job["kind"]]
    json.dump(handler(job), sys.stdout)


def run_child(job, timeout=CHILD_TIMEOUT_S):
    """Runs one job in a child process; returns (result, None) or (None, why it failed)."""
    try:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(nothing on stderr)"]
        return None, f"crashed (exit status {proc.returncode}): {lines[-1]}"
    return json.loads(proc.stdout), None


def run_stdin_test(program, stdin_text):
    """(passed, detail) for one stdin/stdout test of a program."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", program],
            input=stdin_text,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return False, "timed out"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(nothing on stderr)"]
        return False, f"crashed (exit status {proc.returncode}): {lines[-1]}"
    return True, proc.stdout


def stdout_matches(got, expected):
    """Printed output against the expected text: equal, or equal line by line once trailing
    whitespace and trailing empty lines are dropped."""
    if got == expected:
        return True

    def lines(text):
        return [line.rstrip() for line in text.rstrip().splitlines()]

    return lines(got) == lines(expected)


# ---------------------------------------------------------------- the checks


class Report:
    """Collects problems (one line each) and counts of what was checked."""

    def __init__(self):
        self.problems = []
        self.counts = Counter()

    def problem(self, where, message):
        self.problems.append(f"{where}: {message}")


def load_tools(directory):
    """The public functions of the qa tools module, by name, and the module itself."""
    path = os.path.join(directory, "kb_tools.py")
    # No bytecode cache written next to the data files.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("kb_tools", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = {
        name: obj
        for name, obj in vars(module).items()
        if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", None) == "kb_tools"
    }
    return functions, module


def check_tools(functions, module, report):
    search = functions.get("search_notes")
    if search is None:
        report.problem("kb_tools.py", "no search_notes function")
        return
    if not (search.__doc__ or "").strip():
        report.problem("kb_tools.py", "search_notes has no docstring (it is the tool's description)")
    titles = [title for title, _ in module.ARTICLES]
    if len(set(titles)) != len(titles):
        report.problem("kb_tools.py", "duplicate article titles")
    for title, summary in module.ARTICLES:
        result = search(title)
        if not result.startswith(f"Page: {title}\nSummary: {summary}"):
            report.problem("kb_tools.py", f"searching {title!r} does not return that article first")
        for block in result.split("\n\n"):
            if not re.fullmatch(r"Page: [^\n]+\nSummary: [^\n]+", block):
                report.problem("kb_tools.py", f"malformed result block for {title!r}: {block[:60]!r}")
    report.counts["kb articles"] = len(module.ARTICLES)


def is_str(value):
    return isinstance(value, str)


def check_common(task, kind, where, tools, report):
    """Contract fields every type shares; returns False when the task cannot be checked further."""
    allowed = COMMON_FIELDS | FIELDS[kind] | EXTENSIONS
    for field in sorted(set(task) - allowed):
        report.problem(where, f"unknown field {field!r}")
    if task.get("type") != kind:
        report.problem(where, f"type is {task.get('type')!r}, expected {kind!r} in {kind}.jsonl")
        return False
    if "task_name" in task and not (is_str(task["task_name"]) and task["task_name"]):
        report.problem(where, "task_name must be a non-empty string")
    if kind == "math" and task.get("task_name") not in MATH_SUBSETS:
        report.problem(where, f"math task_name {task.get('task_name')!r} is not a MATH subset")
    if "tools" in task:
        if not (isinstance(task["tools"], list) and all(map(is_str, task["tools"]))):
            report.problem(where, "tools must be a list of names")
        else:
            for name in task["tools"]:
                if name not in tools:
                    report.problem(where, f"tool {name!r} is not a function of kb_tools.py")
    if not is_str(task.get("solution")) or not task["solution"].strip():
        report.problem(where, "missing solution (this set requires one per task)")
        return False
    return True


def check_math(task, where, report):
    if not (is_str(task.get("task")) and is_str(task.get("reference")) and task["reference"].strip()):
        report.problem(where, "math needs string task and non-empty reference")
        return
    if not is_str(task.get("reference_query")):
        report.problem(where, "math task has no reference_query to prove its reference")
        return
    job = {
        "kind": "math",
        "code": task["reference_query"],
        "reference": task["reference"],
        "solution": task["solution"],
    }
    result, failure = run_child(job)
    if failure:
        report.problem(where, f"reference_query {failure}")
        return
    report.counts["math references computed"] += 1
    if not result["query_ok"]:
        report.problem(where, f"reference_query gives {result['answer']}, reference is {task['reference']}")
    if not result["solution_ok"]:
        report.problem(where, f"solution {task['solution']!r} differs from reference {task['reference']!r}")


def check_qa(task, where, report):
    if not (is_str(task.get("task")) and is_str(task.get("reference")) and task["reference"].strip()):
        report.problem(where, "qa needs string task and non-empty reference")
        return
    if not qa_correct(task["solution"], task["reference"]):
        report.problem(where, f"solution {task['solution']!r} fails the qa check against {task['reference']!r}")


def check_code(task, where, report):
    if not is_str(task.get("question")):
        report.problem(where, "code needs a string question")
        return
    for field in ("starter_code", "fn_name"):
        if field in task and not is_str(task[field]):
            report.problem(where, f"{field} must be a string")
            return
    tests = task.get("tests")
    if not (isinstance(tests, dict) and set(tests) == {"inputs", "outputs"}):
        report.problem(where, "tests must be {inputs, outputs}")
        return
    inputs, outputs = tests["inputs"], tests["outputs"]
    if not (isinstance(inputs, list) and isinstance(outputs, list) and len(inputs) == len(outputs)):
        report.problem(where, "tests.inputs and tests.outputs must be lists of the same length")
        return
    if len(inputs) < MIN_TESTS:
        report.problem(where, f"only {len(inputs)} tests, this set wants at least {MIN_TESTS}")
    fn_name = task.get("fn_name")
    if fn_name:
        if not all(isinstance(args, list) for args in inputs):
            report.problem(where, "call-based inputs must each be a list of arguments")
            return
        if "class Solution" in task.get("starter_code", "") and "class Solution" not in task["solution"]:
            report.problem(where, "starter code has class Solution but the solution does not")
        job = {"kind": "call", "program": task["solution"], "fn_name": fn_name, "inputs": inputs, "outputs": outputs}
        result, failure = run_child(job)
        if failure:
            report.problem(where, f"solution {failure}")
            return
        passed = result["passed"]
        for index, ok in enumerate(passed):
            if not ok:
                report.problem(where, f"test {index} fails")
    else:
        if not all(map(is_str, inputs + outputs)):
            report.problem(where, "stdin inputs and outputs must be strings")
            return
        passed = []
        for index, (stdin_text, expected) in enumerate(zip(inputs, outputs)):
            ran, got = run_stdin_test(task["solution"], stdin_text)
            ok = ran and stdout_matches(got, expected)
            passed.append(ok)
            if not ok:
                report.problem(where, f"test {index} fails: {got[:80]!r}")
    report.counts["code tests run"] += len(passed)
    report.counts["code tests passed"] += sum(passed)


def check_table_shape(table, where, report):
    if not (isinstance(table, dict) and isinstance(table.get("columns"), list) and isinstance(table.get("rows"), list)):
        report.problem(where, "table must be {columns: [...], rows: [[...], ...]}")
        return False
    columns, rows = table["columns"], table["rows"]
    if not (columns and all(map(is_str, columns)) and len(set(columns)) == len(columns)):
        report.problem(where, "columns must be distinct strings")
        return False
    if not TABLE_ROWS[0] <= len(rows) <= TABLE_ROWS[1]:
        report.problem(where, f"{len(rows)} rows, this set wants {TABLE_ROWS[0]} to {TABLE_ROWS[1]}")
    for index, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == len(columns)):
            report.problem(where, f"row {index} does not have {len(columns)} cells")
            return False
        for cell in row:
            if isinstance(cell, bool) or not isinstance(cell, (str, int, float)):
                report.problem(where, f"row {index} has a cell that is neither string nor number: {cell!r}")
                return False
    return True


def check_table(task, where, report):
    if not is_str(task.get("question")):
        report.problem(where, "table needs a string question")
        return
    if task.get("table_mode") not in ("sql", "pandas"):
        report.problem(where, f"table_mode must be sql or pandas, not {task.get('table_mode')!r}")
        return
    reference = task.get("reference")
    if not (is_str(reference) or (isinstance(reference, list) and reference and all(map(is_str, reference)))):
        report.problem(where, "reference must be a string or a non-empty list of strings")
        return
    if not check_table_shape(task.get("table"), where, report):
        return
    reference = table_reference(task)
    if not table_values_match(table_solution_values(task["solution"]), reference):
        report.problem(where, f"solution {task['solution']!r} does not match reference {reference}")
    if not is_str(task.get("reference_query")):
        report.problem(where, "table task has no reference_query to prove its reference")
        return
    job = {
        "kind": "table",
        "mode": task["table_mode"],
        "query": task["reference_query"],
        "columns": task["table"]["columns"],
        "rows": task["table"]["rows"],
    }
    result, failure = run_child(job)
    if failure:
        report.problem(where, f"reference_query {failure}")
        return
    report.counts["table queries run"] += 1
    if not table_values_match(result["values"], reference):
        report.problem(where, f"reference_query gives {result['values']}, reference is {reference}")


CHECKS = {"math": check_math, "qa": check_qa, "code": check_code, "table": check_table}


def check_file(directory, kind, tools, report):
    path = os.path.join(directory, f"{kind}.jsonl")
    if not os.path.exists(path):
        report.problem(path, "missing")
        return
    seen = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            where = f"{kind}.jsonl:{number}"
            if not line.strip():
                report.problem(where, "empty line")
                continue
            try:
                task = json.loads(line)
            except json.JSONDecodeError as exc:
                report.problem(where, f"not JSON: {exc}")
                continue
            if not isinstance(task, dict):
                report.problem(where, "not a JSON object")
                continue
            task_id = task.get("id")
            if not (is_str(task_id) and ID_PATTERN.match(task_id)):
                report.problem(where, f"id {task_id!r} must be a non-empty string of letters, digits, . _ -")
                continue
            where = f"{where} ({task_id})"
            if task_id in seen:
                report.problem(where, "duplicate id")
            seen.add(task_id)
            if not check_common(task, kind, where, tools, report):
                continue
            CHECKS[kind](task, where, report)
            report.counts[f"{kind}/{task.get('task_name', kind)}"] += 1
            report.counts[f"{kind} tasks"] += 1
            mode = task.get("table_mode") or ("call-based" if task.get("fn_name") else "stdin")
            if kind in ("code", "table"):
                report.counts[f"{kind} {mode}"] += 1


def main(argv):
    if argv[1:2] == ["--child"]:
        child_main()
        return 0
    directory = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    report = Report()
    tools, module = load_tools(directory)
    check_tools(tools, module, report)
    for kind in TYPES:
        check_file(directory, kind, tools, report)
    for line in report.problems:
        print(f"PROBLEM {line}")
    print("summary:")
    for key in sorted(report.counts):
        print(f"  {key}: {report.counts[key]}")
    print(f"  problems: {len(report.problems)}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
