"""Replaying a vectors file (the pack's ``vectors.jsonl`` format, PROTOCOL.md §8) against this package.

Five kinds: ``dialogue`` (renderings, parses, the Response line, a replay on a fresh database and the
check against the recording), ``extra`` (set-up calls then one call on one database), ``check``,
``strptime`` and ``parse``. Values are compared strictly (1 is not 1.0 nor True), printed outputs
too. Random ids and tokens are compared by shape only; the offline network error's object address
is masked. Error texts are compared exactly where they can be a recorded answer or are the
coercion's own; for Python-internal failures (missing arguments) only "the call fails" is checked.
"""

import copy
import json
import re

from . import scoring  # noqa: F401 - registers the simulated APIs
from .checks import run_check
from .checks_common import CheckContext
from .coercion import coerce
from .database import Database
from .dataset import MODES, interfaces
from .dates import format_as, strptime
from .jsonable import jsonable
from .parsing import ParseError, extract_span, parse
from .registry import CallFailed, call
from .render import render_call, response_text

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_RANDOM_SHAPES = {"AppointmentRegistration": re.compile(r"\d{8}"), "RegisterUser": re.compile(r"[a-z0-9]{18}")}


def same(a, b):
    """Strict JSON-value equality: types must agree (bool, int and float are different)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _random_value(name, output):
    value = output.get("token") if isinstance(output, dict) else output
    return isinstance(value, str) and _RANDOM_SHAPES[name].fullmatch(value) is not None


def _compare_result(label, name, mine, expected, problems):
    mine = jsonable(mine)
    if name in _RANDOM_SHAPES and expected.get("output") is not None:
        if not _random_value(name, mine.get("output")):
            problems.append(f"{label}: random output {mine.get('output')!r} has the wrong shape")
        mine = {**mine, "output": expected["output"]}
    if interfaces()[name]["needs_network"]:
        mine = {**mine, "exception": _mask(mine.get("exception"))}
        expected = {**expected, "exception": _mask(expected.get("exception"))}
    if not same(mine, expected):
        problems.append(f"{label}: got {json.dumps(mine)[:300]}, expected {json.dumps(expected)[:300]}")


def _mask(text):
    return _ADDRESS.sub("0x?", text) if isinstance(text, str) else text


def _compare_raise(label, error, expected, problems):
    """An expected failure: coercion texts exactly, Python-internal ones only as 'it fails'."""
    if expected.startswith("AssertionError") and error.describe() != expected:
        problems.append(f"{label}: raised {error.describe()!r}, expected {expected!r}")


def _check_verdict(label, name, produced, recorded, expected, problems):
    try:
        verdict = run_check(name, produced, copy.deepcopy(recorded), CheckContext())
    except Exception as error:  # noqa: BLE001 - a raising check is itself a recorded outcome to compare
        verdict = {"raises": f"{type(error).__name__}: {error}"}
    if verdict != expected:
        problems.append(f"{label}: check gave {verdict!r}, expected {expected!r}")


def _run(db, name, params, expected, label, problems):
    """Coerce and call; compare typed params and the outcome. Returns the result or None."""
    try:
        typed = coerce(name, params)
    except CallFailed as error:
        if "raises" not in expected or "typed_params" in expected:
            problems.append(f"{label}: coercion failed: {error.describe()}")
        else:
            _compare_raise(label, error, expected["raises"], problems)
        return None
    if "typed_params" in expected and not same(jsonable(typed), expected["typed_params"]):
        problems.append(f"{label}: typed params {jsonable(typed)!r}, expected {expected['typed_params']!r}")
    try:
        result = call(db, name, typed)
    except CallFailed as error:
        if "raises" in expected:
            _compare_raise(label, error, expected["raises"], problems)
        else:
            problems.append(f"{label}: call failed: {error.describe()}")
        return None
    if "raises" in expected:
        problems.append(f"{label}: returned {json.dumps(jsonable(result))[:200]}, expected {expected['raises']!r}")
        return None
    return result


def _dialogue(v, problems):
    for mode in MODES:
        data = v["by_mode"][mode]
        rendered = render_call(mode, v["api_name"], v["param_dict"])
        if rendered != data["rendered"]:
            problems.append(f"{mode}: rendered {rendered!r}, expected {data['rendered']!r}")
        _parse_case(mode, rendered, data, problems, label=mode)
    if response_text(v["recorded_result"]["output"]) != v["response_text"]:
        problems.append(f"response text {response_text(v['recorded_result']['output'])[:200]!r}")
    replay = v["replay_fresh_db"]
    db = Database()
    result = _run(db, v["api_name"], v["param_dict"], replay, "replay", problems)
    if result is not None:
        _compare_result("replay", v["api_name"], result, replay["result"], problems)
        _compare_network("replay", db, replay, problems)
        _check_verdict("replay", v["api_name"], result, v["recorded_result"], replay["check_vs_recorded"], problems)


def _compare_network(label, db, expected, problems):
    if db.network_requests != expected.get("network_requests", []):
        problems.append(
            f"{label}: network requests {db.network_requests!r}, expected {expected.get('network_requests')!r}"
        )


def _extra(v, problems):
    env = {"ALL_PROXY": None} if v.get("env", {}).get("ALL_PROXY", "") is None else {"ALL_PROXY": ""}
    db = Database(env=env)
    for i, step in enumerate(v["setup"]):
        result = _run(db, step["api_name"], step["params"], {}, f"setup {i}", problems)
        if result is not None:
            _compare_result(f"setup {i}", step["api_name"], result, step["result"], problems)
    db.network_requests.clear()
    name = v["api_name"]
    if v.get("does_not_terminate"):
        try:
            result = call(db, name, coerce(name, v["params"]))
        except CallFailed:
            return
        problems.append(f"a non-terminating call returned {json.dumps(jsonable(result))[:200]}")
        return
    result = _run(db, name, v["params"], v, "call", problems)
    _compare_network("call", db, v, problems)
    if result is None:
        return
    if v.get("nondeterministic"):
        if not _random_value(name, result["output"]):
            problems.append(f"random output {result['output']!r} has the wrong shape")
        result = {**result, "output": v["result"]["output"]}
    _compare_result("call", name, result, v["result"], problems)
    if "output_str" in v and not v.get("nondeterministic") and str(result["output"]) != v["output_str"]:
        problems.append(f"output printed as {str(result['output'])[:200]!r}, expected {v['output_str'][:200]!r}")


def _check(v, problems):
    db = Database()
    name = v["api_name"]
    expected = {"typed_params": v["candidate_typed_params"]}
    result = _run(db, name, v["candidate_params"], expected, "candidate", problems)
    if result is None:
        return
    _compare_result("candidate", name, result, v["candidate_result"], problems)
    _check_verdict("check", name, result, v["groundtruth_result"], v["check"], problems)


def _strptime(v, problems):
    try:
        value = format_as(strptime(v["input"], v["format"]), v["format"])
    except ValueError as error:
        if v["ok"] or str(error) != v["error"]:
            problems.append(f"error {str(error)!r}, expected {v.get('error', v.get('reformatted'))!r}")
        return
    if not v["ok"] or value != v["reformatted"]:
        problems.append(f"parsed as {value!r}, expected {v.get('reformatted', v.get('error'))!r}")


def _parse_case(mode, span, expected, problems, label):
    try:
        name, params = parse(mode, span)
    except ParseError as error:
        if error.describe() != expected.get("parse_error"):
            problems.append(f"{label}: parse error {error.describe()!r}, expected {expected.get('parsed_name')!r}")
        return
    if "parse_error" in expected:
        problems.append(f"{label}: parsed {name!r}, expected {expected['parse_error']!r}")
    elif name != expected["parsed_name"] or not same(params, expected["parsed_params"]):
        problems.append(
            f"{label}: parsed {name!r} {params!r}, expected {expected['parsed_name']!r} {expected['parsed_params']!r}"
        )


def _parse(v, problems):
    span = extract_span(v["model_output"])
    if span != v["extracted"]:
        problems.append(f"span {span!r}, expected {v['extracted']!r}")
    elif span is not None:
        _parse_case(v["mode"], span, v, problems, label=v["mode"])


KINDS = {"dialogue": _dialogue, "extra": _extra, "check": _check, "strptime": _strptime, "parse": _parse}


def _label(v, lineno):
    if "id" in v:
        return v["id"]
    if v.get("kind") == "strptime":
        return f"strptime {v.get('input')!r} {v.get('format')!r}"
    if v.get("kind") == "parse":
        return f"parse {v.get('mode')} {v.get('model_output')!r}"
    return f"line {lineno}"


def check_vectors(text, first=1):
    """Replay every vector of a vectors file's text: {"failures": [line, ...], "passed", "total"};
    ``first`` is the number of its first line (the caller may send a file a line at a time)."""
    failures, passed, total = [], 0, 0
    for lineno, line in enumerate(text.splitlines(), first):
        if not line.strip():
            continue
        total += 1
        try:
            vector = json.loads(line)
            checker = KINDS.get(vector["kind"])
            if checker is None:
                raise ValueError(f"unknown kind {vector['kind']!r}")
        except (ValueError, KeyError, TypeError) as error:
            failures.append(f"line {lineno}: not a vector: {type(error).__name__}: {error}")
            continue
        problems = []
        try:
            checker(vector, problems)
        except Exception as error:  # noqa: BLE001 - a vector that crashes the replay is one failure line, not an abort
            problems.append(f"replay crashed: {type(error).__name__}: {error}")
        if problems:
            failures.append(f"{_label(vector, lineno)} [{vector['kind']}]: " + "; ".join(problems))
        else:
            passed += 1
    return {"failures": failures, "passed": passed, "total": total}
