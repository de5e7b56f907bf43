"""The gold solutions (crates/eval/tests/data/m3tooleval_gold.jsonl): for every task of the pack,
the code run on fresh tools in a fresh namespace, as a code-mode session would, prints an output
whose observation passes the answer check against the expected output."""

import contextlib
import io

import pytest
from m3tooleval_pack import GOLD, answer_is_correct, expected_value, read_jsonl, tasks

from codeact_m3tooleval import harness

TASKS = {task["name"]: task for task in tasks()}
GOLD_LINES = read_jsonl(GOLD)


def test_one_gold_solution_per_task():
    assert [line["task"] for line in GOLD_LINES] == list(TASKS)
    assert all(set(line) == {"task", "code"} for line in GOLD_LINES)


def test_check_follows_the_original():
    assert answer_is_correct("3", 3)
    assert answer_is_correct("8100", 8100.0)
    assert not answer_is_correct("161.250", 161.25)
    assert answer_is_correct("161.25", 161.25)
    assert answer_is_correct("False", False)
    assert answer_is_correct("('A', 3)", ("A", 3))
    assert not answer_is_correct("['A', 3]", ("A", 3))
    assert answer_is_correct("[36380.0, 48150.0, 68480.0]", [36380.0, 48150.0, 68480.0])


@pytest.mark.parametrize("gold", GOLD_LINES, ids=[line["task"] for line in GOLD_LINES])
def test_gold_solution_is_correct(gold):
    task = TASKS[gold["task"]]
    namespace = {}
    assert harness.start(task["domain"], task["tools"], namespace) == {"tools": task["tools"]}
    # Only the task's tools, called by name: nothing else is bound before the code runs.
    assert set(namespace) == set(task["tools"])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(gold["code"], namespace)  # noqa: S102 - running the gold code is the test
    observation = harness.observe_code(stdout.getvalue())["observation"]
    # The answer parser strips what follows 'Answer:'; a model answering with the observation
    # gives exactly this.
    answer = observation.strip()
    assert answer_is_correct(answer, expected_value(task)), (answer, task["expected_output_repr"])
