"""The API-Bank level-1 data as the package ships it, and the 399 scored samples.

Facts from the pack's PROTOCOL.md §1-§2: 214 dialogue files (one empty), every API turn at position
p gives two samples (ground truth p, then p+1), and only samples whose ground truth is an API turn
are scored. The data files under ``data/`` are copies of the pack's (``init_database`` byte for
byte); ``data/apis.json`` holds what this package needs of the pack's ``apis.json`` (interfaces and
the exact description line each prompt shows).
"""

import functools
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

MODES = ("code_as_action", "text_as_action", "json_as_action")


@functools.lru_cache(maxsize=None)
def dialogues():
    """{file: [turn, ...]} in file-name order, turns exactly as stored."""
    out = {}
    with open(DATA / "level1_dialogues.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out[row["file"]] = row["turns"]
    return dict(sorted(out.items()))


@functools.lru_cache(maxsize=None)
def interfaces():
    """{api name: {prompt_line, input_types (declared order), required, optional, needs_network, ...}}."""
    with open(DATA / "apis.json", encoding="utf-8") as f:
        return {a["name"]: a for a in json.load(f)["apis"]}


@functools.lru_cache(maxsize=None)
def languages():
    """googletrans 3.1.0a0's language table, [(code, name), ...] in its order (Translate's mapping)."""
    with open(DATA / "googletrans_languages.json", encoding="utf-8") as f:
        return [tuple(pair) for pair in json.load(f)]


@functools.lru_cache(maxsize=None)
def _sample_table():
    table = []
    for file, turns in dialogues().items():
        sample_id = 0
        for position, turn in enumerate(turns):
            if turn["role"] != "API":
                continue
            for gt_index in (position, position + 1):
                if gt_index < len(turns) and turns[gt_index]["role"] == "API":
                    table.append(
                        {
                            "sample": f"{file}#{sample_id}",
                            "file": file,
                            "sample_id": sample_id,
                            "gt_turn_index": gt_index,
                            "api_name": turns[gt_index]["api_name"],
                        }
                    )
                sample_id += 1
    return tuple(table)


@functools.lru_cache(maxsize=None)
def _sample_index():
    return {row["sample"]: row for row in _sample_table()}


def samples():
    """The 399 scored samples in canonical order (files by name, then sample id)."""
    return [dict(row) for row in _sample_table()]


def sample_info(sample):
    """The sample row for a ``FILE#id`` name; KeyError for a name that is not a scored sample."""
    try:
        return _sample_index()[sample]
    except KeyError:
        raise KeyError(f"unknown or unscored sample: {sample!r}") from None


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode
