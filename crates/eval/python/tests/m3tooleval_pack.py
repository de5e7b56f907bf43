"""Where the tests of codeact_m3tooleval find the M³ToolEval pack: $CODEACT_SHARED/m3tooleval,
by default the directory `shared` beside the repository root. Tests only: the package itself
never reads the pack."""

import ast
import json
import os
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PYTHON_DIR.parents[2]
SHARED = Path(os.environ.get("CODEACT_SHARED", REPO_ROOT.parent / "shared"))
PACK = SHARED / "m3tooleval"
GOLD = REPO_ROOT / "crates" / "eval" / "tests" / "data" / "m3tooleval_gold.jsonl"


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def tasks():
    return read_jsonl(PACK / "tasks.jsonl")


def tools_json():
    return json.loads((PACK / "tools.json").read_text(encoding="utf-8"))


def expected_value(task):
    """The task's expected value as the original holds it (a tuple stays a tuple)."""
    return ast.literal_eval(task["expected_output_repr"])


def _conv(x):
    try:
        return int(x)
    except ValueError:
        try:
            return float(x)
        except ValueError:
            return x


def answer_is_correct(answer, expected):
    """PROTOCOL.md §6 as it really behaves: equality, then conv() equality unless conv raises
    TypeError, then str() equality (the broken literal_eval step never decides)."""
    if answer == expected:
        return True
    try:
        same = _conv(answer) == _conv(expected)
    except TypeError:
        # conv() of a list or dict escapes with TypeError: the original skips to the last step.
        same = False
    return same or str(answer) == str(expected)
