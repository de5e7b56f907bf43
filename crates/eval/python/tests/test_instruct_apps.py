"""The APPS check: programs run in a child process against every test, call-based and stdin, with
the lenient comparisons, the per-test and overall limits, and the failure report."""

import time
from pathlib import Path

import pytest

from codeact_instruct import apps, check

ADD = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n"
DOUBLE = "n = int(input())\nprint(n * 2)\n"


def grade(program, inputs, outputs, fn_name=None, **limits):
    return apps.grade(program, {"inputs": inputs, "outputs": outputs}, fn_name, **limits)


def test_call_based_with_class_solution():
    result = grade(ADD, [[1, 2], [3, 4], [-1, 1]], [3, 7, 0], "add")
    assert result == {"correct": True, "detail": "3/3 tests passed", "passed": 3, "total": 3, "first_failure": None}


def test_call_based_plain_function_and_wrapped_outputs():
    program = "def pair(n):\n    return (n, n + 1)\n"
    # APPS wraps some expected outputs in a one-item list; tuples are compared as lists.
    assert grade(program, [[1], [5]], [[1, 2], [[5, 6]]], "pair")["correct"]


def test_call_based_dict_arguments_get_their_integer_keys_back():
    program = "def get(d, k):\n    return d[k]\n"
    assert grade(program, [[{"1": "a", "2": "b"}, 2]], ["b"], "get")["correct"]


def test_call_based_wrong_answer_reports_the_first_failure():
    program = "class Solution:\n    def add(self, a, b):\n        return a + b if a < 3 else 0\n"
    result = grade(program, [[1, 2], [3, 4], [5, 6]], [3, 7, 11], "add")
    assert result["correct"] is False
    assert (result["passed"], result["total"]) == (1, 3)
    assert result["first_failure"] == {
        "index": 1,
        "input": "[3, 4]",
        "expected": "7",
        "got": "0",
        "error": "wrong answer",
    }
    assert result["detail"] == "1/3 tests passed; test 1: wrong answer"


def test_call_based_timeout():
    program = "def slow(n):\n    while n:\n        pass\n    return 0\n"
    result = grade(program, [[0], [1], [0]], [0, 0, 0], "slow", per_test_seconds=0.5, overall_seconds=10)
    assert result["correct"] is False
    # The loop ignores a broad `except Exception`-free alarm and the next test still runs.
    assert result["passed"] == 2
    assert result["first_failure"]["error"] == "timed out after 0.5 s"


def test_call_based_runtime_error_and_missing_function():
    result = grade("def f(x):\n    return 1 // x\n", [[0]], [0], "f")
    assert result["first_failure"]["error"] == "ZeroDivisionError: integer division or modulo by zero"
    result = grade("def g(x):\n    return x\n", [[1], [2]], [1, 2], "f")
    assert result["passed"] == 0
    assert result["first_failure"]["error"] == "the program defines no function 'f'"


def test_call_based_main_block_does_not_run():
    program = "def f(x):\n    return x\nif __name__ == '__main__':\n    input()\n"
    assert grade(program, [[1]], [1], "f")["correct"]


def test_the_common_imports_come_first():
    program = "def f(xs: List[int]) -> int:\n    return sum(Counter(xs).values()) + gcd(4, 6)\n"
    assert grade(program, [[[1, 1, 2]]], [5], "f")["correct"]


def test_stdin_program():
    assert grade(DOUBLE, ["3\n", "5\n"], ["6\n", "10\n"])["correct"]


@pytest.mark.parametrize(
    "program",
    [
        "import sys\nprint(int(sys.stdin.readline()) * 2)",
        "import sys\nprint(int(sys.stdin.buffer.read()) * 2)",
        "print(int(open(0).read()) * 2)",
        "def main():\n    print(int(input()) * 2)\n\nif __name__ == '__main__':\n    main()\n",
        "import sys\nsys.stdout.write(str(int(input()) * 2))\nexit()\n",
        "import os\nos.write(1, str(int(input()) * 2).encode())\n",
    ],
)
def test_stdin_program_reading_and_writing_in_several_ways(program):
    result = grade(program, ["3\n", "21"], ["6\n", "42\n"])
    assert result["correct"], result


@pytest.mark.parametrize(
    "printed, expected",
    [
        ("1 2\n3 4\n", "1 2\n3 4"),  # trailing newline
        ("  1 2  \n\n3 4", "1 2\n3 4\n"),  # stripped lines, empty lines dropped
        ("0.3333333\n", "0.33333333\n"),  # float closeness
        ("1.0 2.0", "1 2"),
        ("2 1\n4 3\n", "1 2\n3 4\n"),  # lines as sets of tokens
        ("3 4\n1 2\n", "1 2\n3 4\n"),
    ],
)
def test_stdin_lenient_comparisons(printed, expected):
    program = f"print({printed!r}, end='')"
    assert grade(program, [""], [expected])["correct"]


def test_stdin_lists_are_joined_with_newlines():
    program = "a = input()\nb = input()\nprint(a)\nprint(b)"
    assert grade(program, [["x", "y"]], [["x", "y"]])["correct"]


def test_stdin_wrong_answer():
    result = grade(DOUBLE, ["3\n", "5\n"], ["6\n", "11\n"])
    assert result["correct"] is False and result["passed"] == 1
    assert result["first_failure"] == {
        "index": 1,
        "input": "5\n",
        "expected": "11\n",
        "got": "10\n",
        "error": "wrong answer",
    }


def test_stdin_timeout_and_failed_exit():
    program = "n = int(input())\nwhile n == 1:\n    pass\nif n == 2:\n    exit(3)\nprint(n)"
    result = grade(program, ["1", "2", "4"], ["1", "2", "4"], per_test_seconds=0.5)
    assert result["passed"] == 1
    assert result["first_failure"]["error"] == "timed out after 0.5 s"
    result = grade(program, ["2"], ["2"])
    assert result["first_failure"]["error"] == "exit(3)"


def test_stdin_runtime_error():
    result = grade("print(1)\nraise ValueError('bad input')", [""], ["1"])
    assert result["first_failure"]["error"] == "ValueError: bad input"
    assert result["first_failure"]["got"] == "1\n"


def test_a_syntax_error_fails_every_test():
    result = grade("def f(:\n", ["1", "2"], ["1", "2"])
    assert result["passed"] == 0 and result["total"] == 2
    assert result["first_failure"]["error"].startswith("the program does not compile: SyntaxError")


def test_the_overall_limit_fails_tests_not_reached():
    program = "import time\ntime.sleep(0.6)\nprint(1)"
    result = grade(program, ["", "", "", ""], ["1", "1", "1", "1"], per_test_seconds=5, overall_seconds=1.5)
    assert result["correct"] is False
    assert 1 <= result["passed"] <= 2
    assert result["first_failure"]["error"] == "not run: the whole run's limit of 1.5 s ran out"


def test_processes_the_program_starts_are_stopped(tmp_path):
    pid_file = tmp_path / "pid"
    program = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print(1)"
    )
    assert grade(program, [""], ["1"])["correct"]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid):
    """True while the process exists and is no zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_failure_texts_are_truncated():
    program = "print('x' * 5000)"
    result = grade(program, ["y" * 5000], ["z"])
    failure = result["first_failure"]
    assert len(failure["input"]) == apps.SHOWN_CHARS + 3 and failure["input"].endswith("...")
    assert len(failure["got"]) <= apps.SHOWN_CHARS + 3


def test_tests_must_be_paired():
    with pytest.raises(ValueError, match="as many outputs as inputs"):
        grade(DOUBLE, ["1"], [])
    with pytest.raises(ValueError):
        grade(DOUBLE, [], [])


def test_the_default_limits_are_minits():
    assert (apps.PER_TEST_SECONDS, apps.OVERALL_SECONDS) == (10, 11)


def test_check_dispatches_code_tasks():
    task = {"type": "code", "fn_name": "add", "tests": {"inputs": [[1, 1]], "outputs": [2]}}
    assert check(task, ADD)["correct"] is True
    task = {"type": "code", "tests": {"inputs": ["4"], "outputs": ["8"]}}
    assert check(task, DOUBLE)["passed"] == 1
