"""One database instance: the 19 seed tables, per-tool state, environment and network log.

Facts from the pack's apis.json ``conventions`` (DATABASES, TOKEN_CHECK) and PROTOCOL.md §4.5: every
instance starts from the seed tables; APIs naming the same table share one mutable copy inside an
instance (quirk Q17); ForgotPassword's and OpenBankAccount's state belong to the instance too.
Tables are parsed once per process and copied on first use, which is observably the same as a fresh
parse per instance: a table no API of the instance touches needs no copy.
"""

import copy
import functools
import json
import random
import string

from .dataset import DATA

TABLES = (
    "Account",
    "Agenda",
    "Alarm",
    "Appointments",
    "Bank",
    "HealthData",
    "History",
    "Hotel",
    "ImageCaptioning",
    "Meeting",
    "QuestionAnswering",
    "Reminder",
    "Scenes",
    "SearchEngine",
    "SpeechRecognition",
    "Stock",
    "Symptom",
    "TimeSwitch",
    "Wiki",
)

# No API writes to these; sharing the parsed seed saves copying megabytes per sample.
READ_ONLY = frozenset(
    {"History", "ImageCaptioning", "QuestionAnswering", "SearchEngine", "SpeechRecognition", "Stock", "Symptom", "Wiki"}
)


@functools.lru_cache(maxsize=None)
def seed(table):
    with open(DATA / "init_database" / f"{table}.json", encoding="utf-8") as f:
        return json.load(f)


class ApiError(Exception):
    """An error the operation raises and the call returns as its ``exception`` text."""


class Database:
    """A fresh instance. ``env`` is the process environment the Translate API touches (quirk Q14);
    ``forced`` holds values to use instead of random draws (replaying recorded ids and tokens)."""

    def __init__(self, env=None, rng=None):
        self._tables = {}
        self.env = {"ALL_PROXY": ""} if env is None else env
        self.rng = rng or random.Random()
        self.forced = []
        self.network_requests = []
        self.forgot_password = {"code": None, "username": None}
        self.bank_accounts = {0: {"account": "test", "password": "test", "name": "yifei"}}

    def table(self, name):
        if name not in self._tables:
            data = seed(name)
            self._tables[name] = data if name in READ_ONLY else copy.deepcopy(data)
        return self._tables[name]

    def changed(self):
        """Whether anything differs from a fresh instance (used to tell if a replay changed state)."""
        if any(self._tables[name] != seed(name) for name in self._tables):
            return True
        if self.forgot_password != {"code": None, "username": None}:
            return True
        return self.bank_accounts != {0: {"account": "test", "password": "test", "name": "yifei"}}

    def draw(self, make):
        return self.forced.pop(0) if self.forced else make(self.rng)

    def token_user(self, token):
        """TOKEN_CHECK: the first username whose token equals the given one exactly."""
        for username, record in self.table("Account").items():
            if record["token"] == token:
                return username
        raise ApiError("The token is invalid.")


def random_token(rng):
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(18)).lower()


def random_appointment_id(rng):
    return str(rng.randint(10000000, 99999999))
