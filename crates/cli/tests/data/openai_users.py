"""Two users of `codeact serve --agent` with API keys name the same conversation id; prints
what each saw as one JSON object. Usage: openai_users.py BASE_URL ALICE_KEY BOB_KEY"""

import json
import sys

import openai
from openai import OpenAI

base, alice_key, bob_key = sys.argv[1:4]
alice = OpenAI(base_url=base + "/v1", api_key=alice_key)
bob = OpenAI(base_url=base + "/v1", api_key=bob_key)
conv = {"X-Conversation-Id": "same-id"}


def say(client, text):
    r = client.chat.completions.create(model="codeact", messages=[{"role": "user", "content": text}], extra_headers=conv)
    return r.choices[0].message.content


out = {"alice_1": say(alice, "Compute 6*7")}
# Bob's "same-id" is a conversation of his own: his first message, no x in his session.
out["bob_1"] = say(bob, "Now double it")
out["alice_2"] = say(alice, "Now double it")
try:
    OpenAI(base_url=base + "/v1", api_key="not-a-key-of-anyone").models.list()
except openai.AuthenticationError as e:
    out["wrong_key"] = e.status_code
print(json.dumps(out))
