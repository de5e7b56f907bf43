"""The API-Bank pack the tests compare against (read-only; the package itself never needs it).

``CODEACT_SHARED`` names the shared directory; by default it is ``shared`` beside the repository root.
"""

import functools
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
SHARED = Path(os.environ.get("CODEACT_SHARED", REPO_ROOT.parent / "shared"))
PACK = SHARED / "apibank"


def jsonl(name):
    with open(PACK / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@functools.lru_cache(maxsize=None)
def gold_replies():
    return tuple(jsonl("gold_replies.jsonl"))


@functools.lru_cache(maxsize=None)
def reference_scores():
    with open(PACK / "reference_scores.json", encoding="utf-8") as f:
        return json.load(f)


def gold_by_mode(mode):
    return [g for g in gold_replies() if g["mode"] == mode]
