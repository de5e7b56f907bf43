"""The request the original sends for one sample: system prompt, history rendering, merging.

Facts from the pack's PROTOCOL.md §3 and prompts.json: the header template with the mode's format
string twice, one description line per API named anywhere in the dialogue (canonical order: first
appearance, quirk Q1), history turns rendered per mode (quirk Q4: two characters are always cut),
``Response: `` + Python ``str()`` of the recorded output, consecutive assistant messages merged.
"""

import json

from .dataset import check_mode, dialogues, interfaces, sample_info

FORMATS = {
    "code_as_action": "[ApiName(key1='value1', key2='value2', ...)]",
    "text_as_action": "[Action: ApiName, key1: value1, key2: value2, ...]",
    "json_as_action": '[{"action": "ApiName", "param1": "value1", "param2": "value2", ...}]',
}

TEMPLATE = (
    "Based on the given API description and the existing conversation history 1..t, please generate the API "
    "request that the AI should call in step t+1 and output it in the format of {format_guide}, replace the "
    "ApiName with the actual API name, and replace the key and value with the actual parameters.\n"
    'Your output should start with a square bracket "[" and end with a square bracket "]". Do not output any '
    "other explanation or prompt or the result of the API call in your output. \n"
    "This year is 2023.\n"
    "Input: \n"
    "User: [User's utterence]\n"
    "AI: [AI's utterence]\n"
    "\n"
    "Expected output:\n"
    "{expected_output}\n"
    "\n"
    "API descriptions:\n"
)


def header(mode):
    fmt = FORMATS[check_mode(mode)]
    return TEMPLATE.replace("{format_guide}", fmt).replace("{expected_output}", fmt)


def render_call(mode, name, params):
    """RENDER(mode, name, params): the history's (and the gold reply's) rendering of a recorded call."""
    check_mode(mode)
    if mode == "json_as_action":
        return "[" + json.dumps({"action": name, **params}) + "]"
    if mode == "code_as_action":
        body = name + "(" + "".join(f"{k}='{v}', " for k, v in params.items())
        return "[" + body[:-2] + ")]"
    body = "Action: " + name + ", " + "".join(f"{k}: {v}, " for k, v in params.items())
    return "[" + body[:-2] + "]"


def response_text(output):
    """The history line for a recorded output: Python's str() (a top-level string is inserted raw)."""
    return "Response: " + str(output)


def api_order(file):
    """API names of a dialogue in order of first appearance (the canonical description order)."""
    seen = []
    for turn in dialogues()[file]:
        if turn["role"] == "API" and turn["api_name"] not in seen:
            seen.append(turn["api_name"])
    return seen


def system_prompt(mode, file):
    apis = interfaces()
    return header(mode) + "\n".join(apis[name]["prompt_line"] for name in api_order(file))


def history_messages(mode, turns):
    messages = []
    for turn in turns:
        if turn["role"] == "User":
            messages.append({"role": "user", "content": turn["text"]})
        elif turn["role"] == "AI":
            messages.append({"role": "assistant", "content": turn["text"]})
        else:
            rendered = render_call(mode, turn["api_name"], turn["param_dict"])
            messages.append({"role": "assistant", "content": rendered})
            messages.append({"role": "user", "content": response_text(turn["result"]["output"])})
    merged = []
    for message in messages:
        # Only assistant runs merge; a Response line followed by a User turn stays two user messages.
        if merged and message["role"] == "assistant" and merged[-1]["role"] == "assistant":
            merged[-1]["content"] += "\n" + message["content"]
        else:
            merged.append(dict(message))
    return merged


def request(sample, mode):
    """The full message list the original sends for (sample, mode)."""
    info = sample_info(sample)
    turns = dialogues()[info["file"]][: info["gt_turn_index"]]
    return [{"role": "system", "content": system_prompt(mode, info["file"])}] + history_messages(mode, turns)
