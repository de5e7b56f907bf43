"""Drives `codeact serve --agent` with the official openai package, as chat UIs do; prints
what it saw as one JSON object. Usage: openai_client.py BASE_URL"""

import json
import sys

import openai
from openai import OpenAI


def extra(obj, key):
    return (getattr(obj, "model_extra", None) or {}).get(key)


client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused")
out = {"models": [m.id for m in client.models.list()]}
conv = {"X-Conversation-Id": "conv-1"}
first = [{"role": "user", "content": "Compute 6*7"}]
r = client.chat.completions.create(model="codeact", messages=first, extra_headers=conv)
m = r.choices[0].message
out["first"] = {"content": m.content, "reasoning": extra(m, "reasoning_content"), "finish": r.choices[0].finish_reason}

# The client replays the history; the server continues the live conversation (x is kept).
second = first + [{"role": "assistant", "content": m.content}, {"role": "user", "content": "Now double it"}]
stream = client.chat.completions.create(model="codeact", messages=second, stream=True, extra_headers=conv)
content, reasoning, finish, chunks = "", "", None, 0
for chunk in stream:
    chunks += 1
    delta = chunk.choices[0].delta
    content += delta.content or ""
    reasoning += extra(delta, "reasoning_content") or ""
    finish = chunk.choices[0].finish_reason or finish
out["second"] = {"content": content, "reasoning": reasoning, "finish": finish, "chunks": chunks}

# No conversation id: one request, one conversation.
r = client.chat.completions.create(model="codeact", messages=[{"role": "user", "content": "Plot a line"}])
out["plot"] = r.choices[0].message.content

try:
    client.chat.completions.create(model="gpt-4o", messages=first)
except openai.NotFoundError as e:
    out["unknown_model"] = e.status_code
print(json.dumps(out))
