#!/usr/bin/env python3
"""Writes N CodeActInstruct rows with three code actions each, whose recorded observations
are what the code prints (so every row verifies): the input of the `codeact data verify` speed
measurement in the README. Usage: synthetic-rows.py N > rows.jsonl"""

import json
import math
import sys

SYSTEM = open(  # noqa: SIM115 - read once at start
    __file__.rsplit("/", 2)[0] + "/crates/eval/data/codeactinstruct/prompts/system_no_tools.txt"
).read().strip()


def countdown(steps, chances):
    return f"You have {steps} steps left and {chances} chances to propose solution left."


def row(i):
    a = i * 7
    b = [a + k for k in range(3)]
    f = math.factorial(i % 12)
    turns = [
        ("system", SYSTEM),
        ("user", f"Task:\nCompute 7 times {i}, the next three numbers from it, and {i % 12}!."),
        ("assistant", f"Multiply first.\n<execute>\na = {i} * 7\nprint(a)\n</execute>"),
        ("user", f"Observation:\n{a}\n{countdown(4, 2)}"),
        ("assistant", "Then the list.\n<execute>\nb = [a + k for k in range(3)]\nb\n</execute>"),
        ("user", f"Observation:\nOut[2]: {b}\n{countdown(3, 2)}"),
        ("assistant", f"And the factorial.\n<execute>\nimport math\nprint(math.factorial({i % 12}))\n</execute>"),
        ("user", f"Observation:\n{f}\n{countdown(2, 2)}"),
        ("assistant", f"The answer is <solution> {a}, {b}, {f} </solution>."),
    ]
    return {
        "id": f"synthetic/reasoning/arithmetic/{i}/none/max5_p2+tool+cd",
        "conversations": [{"content": c, "role": r} for r, c in turns],
    }


if __name__ == "__main__":
    for i in range(int(sys.argv[1])):
        print(json.dumps(row(i)))
