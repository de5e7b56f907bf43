"""Scoring one reply (or one typed call) against its sample, with per-run state.

The pipeline is the pack's PROTOCOL.md §4: span, parse, name check, coercion, call on a fresh
database, per-API check. Scorer state is kept per (mode, corrected), like the original's one process
per mode: the recorded ground truth the checks mutate (quirk Q11) and the ALL_PROXY variable
Translate touches (quirk Q14). ``reset`` drops it; replaying stored replies in order rebuilds it.
"""

import copy

from . import apis_account, apis_health, apis_home, apis_info, apis_meeting, apis_network, apis_schedule, apis_search
from .checks import run_check
from .checks_common import CheckContext
from .coercion import BadArgument, Options, coerce
from .corrections import apply_aliases, corrected_parse, find_span, ordered
from .database import Database
from .dataset import check_mode, dialogues, interfaces, sample_info
from .jsonable import jsonable
from .parsing import ParseError, parse
from .registry import CallFailed, call

# The API modules register themselves on import.
_API_MODULES = (apis_account, apis_health, apis_home, apis_info, apis_meeting, apis_network, apis_schedule, apis_search)


class ScorerState:
    def __init__(self):
        self.ground_truth = {}
        self.env = {"ALL_PROXY": None}

    def recorded(self, file, turn_index):
        key = (file, turn_index)
        if key not in self.ground_truth:
            self.ground_truth[key] = copy.deepcopy(dialogues()[file][turn_index]["result"])
        return self.ground_truth[key]


_STATES = {}


def _state(mode, corrected):
    key = (check_mode(mode), bool(corrected))
    if key not in _STATES:
        _STATES[key] = ScorerState()
    return _STATES[key]


def reset(mode, corrected=False):
    """Forget the scorer state of (mode, corrected)."""
    _STATES.pop((check_mode(mode), bool(corrected)), None)


def _verdict(info, cause, **fields):
    verdict = {
        "correct": cause == "ok",
        "cause": cause,
        "span": None,
        "name": None,
        "args": None,
        "result": None,
        "needs_network": interfaces()[info["api_name"]]["needs_network"],
        "corrections": [],
    }
    verdict.update(fields)
    return verdict


def replay_history(db, file, gt_index):
    """stateful_dialogue: the dialogue's earlier recorded calls, in order, on ``db``."""
    for turn in dialogues()[file][:gt_index]:
        if turn["role"] != "API":
            continue
        name = turn["api_name"]
        output = turn["result"]["output"]
        if interfaces()[name]["nondeterministic_output"] and output is not None:
            db.forced = [output["token"] if isinstance(output, dict) else output]
        try:
            typed = coerce(name, apply_aliases(name, turn["param_dict"], set()), Options(True, True))
            call(db, name, typed)
        except CallFailed:
            # A recorded call the current API rejects changes nothing; the replay goes on.
            pass
        db.forced = []


def score_parsed(info, mode, name, args, corrected, touched, **fields):
    """Name check, coercion, call and check of a parsed call (shared by score and score_call)."""
    state = _state(mode, corrected)
    fields.update(name=name if isinstance(name, str) else jsonable(name), args=jsonable(args))
    expected = info["api_name"]
    if name != expected:
        return _verdict(info, f"name_mismatch: got {name!r}, expected {expected!r}", **fields)
    options = Options(lists_parsed=corrected, json_bool=corrected)
    try:
        typed = coerce(name, apply_aliases(name, args, touched) if corrected else args, options)
    except BadArgument as error:
        fields["corrections"] = ordered(touched | options.touched) if corrected else []
        return _verdict(info, f"bad_argument: {error.describe()}", **fields)
    touched |= options.touched
    if corrected:
        db = Database(env={"ALL_PROXY": ""})
        replay_history(db, info["file"], info["gt_turn_index"])
        if db.changed():
            touched.add("stateful_dialogue")
        if name == "Translate" and state.env["ALL_PROXY"] is None:
            touched.add("translate_env")
            state.env["ALL_PROXY"] = ""
    else:
        db = Database(env=state.env)
    fields["corrections"] = ordered(touched) if corrected else []
    try:
        result = call(db, name, typed)
    except CallFailed as error:
        return _verdict(info, f"call_failed: {error.describe()}", **fields)
    fields["result"] = jsonable(result)
    recorded = state.recorded(info["file"], info["gt_turn_index"])
    if corrected:
        # A pure check sees a pristine copy; the state's copy only follows what the original would do.
        ctx = CheckContext(pure=True, drift=True, shadow=recorded)
        recorded = copy.deepcopy(dialogues()[info["file"]][info["gt_turn_index"]]["result"])
    else:
        ctx = CheckContext()
    try:
        ok = run_check(name, result, recorded, ctx)
    except KeyError as error:
        return _verdict(info, f"check_raised: KeyError {error}", **_with(fields, touched | ctx.touched, corrected))
    except Exception as error:  # noqa: BLE001 - the original crashed here (quirk Q12); scored incorrect and reported
        cause = f"check_raised: {type(error).__name__}: {error}"
        return _verdict(info, cause, **_with(fields, touched | ctx.touched, corrected))
    return _verdict(info, "ok" if ok else "check_failed", **_with(fields, touched | ctx.touched, corrected))


def _with(fields, touched, corrected):
    fields["corrections"] = ordered(touched) if corrected else []
    return fields


def score(sample, mode, reply, corrected=False):
    """Score one model reply for (sample, mode) as the original does, or with the corrections."""
    info = sample_info(sample)
    check_mode(mode)
    corrected = bool(corrected)
    touched = set()
    span = find_span(reply, corrected, touched)
    if span is None:
        return _verdict(info, "no_api_call")
    try:
        name, args = corrected_parse(mode, span, touched) if corrected else parse(mode, span)
    except ParseError as error:
        return _verdict(info, f"parse_error: {error.describe()}", span=span, corrections=ordered(touched))
    return score_parsed(info, mode, name, args, corrected, touched, span=span)


def score_call(sample, mode, name, args, corrected=False):
    """Score a typed call (made by executed code) for (sample, mode); same shape as ``score``."""
    info = sample_info(sample)
    check_mode(mode)
    if not isinstance(args, dict):
        raise TypeError(f"args must be a dict, not {type(args).__name__}")
    return score_parsed(info, mode, name, dict(args), bool(corrected), set())
