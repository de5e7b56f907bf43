"""Writes `m3tooleval_gold_script.jsonl`, the script backend's replay of correct actions in all
three modes, from `m3tooleval_gold.jsonl` (one gold code action per task).

Code mode: the gold code as one action, then an answer copied from its observation. JSON and
text mode: run here against the product's own tools, the gold code makes a sequence of
top-level tool calls with literal arguments (a generator argument becomes the list it yields);
the JSON and text rules replay those calls one action per turn, as a model limited to one tool
call per action would, and then answer with what the gold code printed. A call whose arguments the text format cannot
express (a list, a string with a comma or outer spaces, a string that reads as a number) is
still replayed, and that task fails in text mode: the format cannot state it.

Each JSON or text rule is told from the code rule of its task by the end of its mode's
instructions, which the prompt puts just before the instruction (PROTOCOL.md §1); the code
rules come last, so they answer only what no mode rule matched. Tasks whose gold code makes
more calls than the turn limit leaves room for end at the limit in those modes.

    python3 crates/eval/tests/data/m3tooleval_gold_calls.py           # rewrites the script
    python3 crates/eval/tests/data/m3tooleval_gold_calls.py --check   # exit 1 if it is stale

Prints, per mode, how many tasks fit in the 10 turns and how many the format can express."""

import contextlib
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "python"))

from codeact_m3tooleval import domains  # noqa: E402 - found through the path set above

GOLD = HERE / "m3tooleval_gold.jsonl"
SCRIPT = HERE / "m3tooleval_gold_script.jsonl"
TASKS = HERE.parents[3] / ".." / "shared" / "m3tooleval" / "tasks.jsonl"
TURNS = 10
# The last lines of each mode's instructions, then the prompt's fixed lead-in (PROTOCOL.md §1).
LEAD_IN = "You can only invoke one tool at a time.\n\nNow, let's get started!\n\n"
MODE_KEYS = {
    "json": '"args": ["argument_1"]} End Action\'\n' + LEAD_IN,
    "text": "'Action: tool_name, argument_1 End Action'\n" + LEAD_IN,
}


def gold_calls(task, code):
    """The top-level tool calls `code` makes with fresh tools of `task`, and what it prints."""
    tools = domains.build(task["domain"], task["tools"])
    calls = []
    depth = [0]

    def recorder(name, tool):
        def call(*args):
            # A generator argument is what a JSON action states as a list; the tools take both.
            args = [a if isinstance(a, (str, list, dict)) or not hasattr(a, "__next__") else list(a) for a in args]
            if depth[0] == 0:
                calls.append((name, list(args)))
            depth[0] += 1
            try:
                return tool(*args)
            finally:
                depth[0] -= 1

        return call

    namespace = {name: recorder(name, tool) for name, tool in tools.items()}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, task["name"], "exec"), namespace)  # noqa: S102 - our own gold code
    return calls, printed.getvalue().strip()


def text_piece(value):
    """`value` as a text-mode argument, or None when that format reads it back differently."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    piece = str(value)
    if "," in piece or piece != piece.strip():
        return None
    for convert in (int, float):
        try:
            back = convert(piece)
            break
        except ValueError:
            continue
    else:
        back = piece
    return piece if type(back) is type(value) and back == value else None


def action(mode, name, args):
    if mode == "json":
        body = json.dumps({"tool": name, "args": args})
    else:
        pieces = [text_piece(a) for a in args]
        body = ", ".join([name] + [str(a) if p is None else p for p, a in zip(pieces, args)])
    return f"Action: {body} End Action"


def main():
    tasks = {}
    for line in TASKS.read_text().splitlines():
        task = json.loads(line)
        tasks[task["name"]] = task
    code_rules = []
    mode_rules = {mode: [] for mode in MODE_KEYS}
    fits = dict.fromkeys(MODE_KEYS, 0)
    expressible = 0
    for line in GOLD.read_text().splitlines():
        gold = json.loads(line)
        task = tasks[gold["task"]]
        first = "Instruction: " + task["instruction"] + "\n"
        code_rules.append(
            {
                "first": first,
                "replies": [
                    f"Thought: run it.\nAction:\n{gold['code']}\nEnd Action",
                    "Answer: {{last_message}}",
                ],
            }
        )
        calls, printed = gold_calls(task, gold["code"])
        if all(text_piece(a) is not None for _, args in calls for a in args):
            expressible += 1
        for mode, key in MODE_KEYS.items():
            replies = [action(mode, name, args) for name, args in calls]
            fits[mode] += len(replies) < TURNS
            replies.append(f"Answer: {printed}")
            mode_rules[mode].append({"first": key + first, "replies": replies})
    rules = mode_rules["json"] + mode_rules["text"] + code_rules
    text = "".join(json.dumps(rule, ensure_ascii=False) + "\n" for rule in rules)
    if "--check" in sys.argv[1:]:
        if SCRIPT.read_text() != text:
            sys.exit(f"{SCRIPT.name} is stale: run {Path(__file__).name} to rewrite it")
    else:
        SCRIPT.write_text(text)
    print(
        f"{len(code_rules)} tasks; within {TURNS} turns: json {fits['json']}, text {fits['text']}; "
        f"text can express the calls of {expressible}"
    )


if __name__ == "__main__":
    main()
