"""Samples, requests and shipped data against the pack (PROTOCOL.md §1-§3)."""

import json

from apibank_pack import PACK, gold_replies, jsonl

import codeact_apibank
from codeact_apibank.dataset import DATA


def test_samples_are_the_399_scored_ones_in_canonical_order():
    rows = codeact_apibank.samples()
    assert len(rows) == 399
    assert [r["sample"] for r in rows] == [g["sample"] for g in gold_replies() if g["mode"] == "code_as_action"]
    first = gold_replies()[0]
    assert rows[0] == {k: first[k] for k in ("sample", "file", "sample_id", "gt_turn_index", "api_name")}
    # The ten repeated calls: rule 2 of one API turn and rule 1 of the next name the same ground truth.
    turns = [(r["file"], r["gt_turn_index"]) for r in rows]
    assert len(turns) - len(set(turns)) == 10


def test_every_request_equals_prompts_rendered_byte_for_byte():
    rendered = jsonl("prompts_rendered.jsonl")
    assert len(rendered) == 1197
    for row in rendered:
        messages = codeact_apibank.request(row["sample"], row["mode"])
        assert json.dumps(messages) == json.dumps(row["messages"]), (row["sample"], row["mode"])
        assert codeact_apibank.api_names(row["sample"]) == row["api_order"]


def test_headers_equal_the_pack_prompts():
    from codeact_apibank.render import header

    with open(PACK / "prompts.json", encoding="utf-8") as f:
        prompts = json.load(f)
    for mode in codeact_apibank.MODES:
        assert header(mode) == prompts["system_prompt_header"][mode]


def test_shipped_data_are_copies_of_the_pack():
    for path in sorted((PACK / "data").rglob("*")):
        if path.is_file():
            copy = DATA / path.relative_to(PACK / "data")
            assert copy.read_bytes() == path.read_bytes(), copy


def test_derived_interfaces_follow_the_pack_apis_json():
    with open(PACK / "apis.json", encoding="utf-8") as f:
        pack = {a["name"]: a for a in json.load(f)["apis"]}
    with open(DATA / "apis.json", encoding="utf-8") as f:
        ours = {a["name"]: a for a in json.load(f)["apis"]}
    assert list(ours) == list(pack)
    for name, api in pack.items():
        mine = ours[name]
        assert mine["prompt_line"] == api["prompt_line"]
        assert mine["input_types"] == {k: v["type"] for k, v in api["input_parameters"].items()}
        assert list(mine["input_types"]) == list(api["input_parameters"])
        assert (mine["required"], mine["optional"]) == (api["required_arguments"], api["optional_arguments"])
        assert mine["needs_network"] == api["needs_network"]
        assert mine["nondeterministic_output"] == api["nondeterministic_output"]
    assert codeact_apibank.api_names() == list(pack)


def test_gold_replies_are_the_history_renderings():
    from codeact_apibank.dataset import dialogues
    from codeact_apibank.render import render_call

    for g in gold_replies():
        turn = dialogues()[g["file"]][g["gt_turn_index"]]
        assert render_call(g["mode"], turn["api_name"], turn["param_dict"]) == g["reply"]
