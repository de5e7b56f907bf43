"""API-Bank level-1 evaluation (the CodeAct release's protocol), run inside a sandboxed session.

The Rust side sends each request to the model and stores results; it calls the functions below
through ``emit``. Facts come from the pack under ``shared/apibank`` (PROTOCOL.md, apis.json, the
vectors); the data the package needs is copied into ``data/``.

Public functions (all results are JSON values):

* ``samples(start=0, count=None)`` - the 399 scored samples, canonical order (or a page of them).
* ``preload()`` - read every data file now (the installer deletes them after import).
* ``request(sample, mode)`` - the message list the original sends.
* ``score(sample, mode, reply, corrected=False)`` / ``score_call(sample, mode, name, args, corrected=False)``.
* ``reset(mode, corrected=False)`` - drop the scorer state of (mode, corrected).
* ``corrections()`` - the fixes ``corrected=True`` applies.
* ``api_names(sample=None)`` - all API names, or a sample's dialogue's in description order.
* ``code_of(reply)``, ``api_params()`` - executed code replies.
* ``check_vectors(text)`` - replay a vectors file.
* ``emit(function_name, *args, **kwargs)`` - call one of these and print one result line.
"""

import json

from . import corrections as _corrections
from .dataset import MODES, interfaces, sample_info
from .dataset import samples as _samples
from .executed import api_params, code_of
from .render import api_order
from .render import request as _request
from .scoring import reset, score, score_call
from .vectors import check_vectors

PREFIX = "\x1fcodeact-eval "

__all__ = [
    "MODES",
    "api_names",
    "api_params",
    "preload",
    "check_vectors",
    "code_of",
    "corrections",
    "emit",
    "request",
    "reset",
    "samples",
    "score",
    "score_call",
]


def samples(start=0, count=None):
    """[{"sample": "FILE#id", "file", "sample_id", "gt_turn_index", "api_name"}] in canonical order;
    ``start`` and ``count`` select a page of it (the whole list is longer than one output line may be)."""
    rows = _samples()
    return rows[start:] if count is None else rows[start : start + count]


def preload():
    """Read every data file now: the installer removes the package's files once it is imported."""
    from .database import TABLES, seed
    from .dataset import dialogues, languages

    dialogues()
    interfaces()
    languages()
    _samples()
    for table in TABLES:
        seed(table)
    return {}


def request(sample, mode):
    """[{"role", "content"}, ...] for (sample, mode), equal to the pack's prompts_rendered.jsonl."""
    return _request(sample, mode)


def corrections():
    """[{"name", "quirk", "description"}] of the fixes corrected scoring applies."""
    return _corrections.describe()


def api_names(sample=None):
    """Every simulated API's name, or those of a sample's dialogue in description order."""
    if sample is None:
        return list(interfaces())
    return api_order(sample_info(sample)["file"])


_PUBLIC = {
    "api_names": api_names,
    "api_params": api_params,
    "check_vectors": check_vectors,
    "code_of": code_of,
    "corrections": corrections,
    "request": request,
    "reset": reset,
    "samples": samples,
    "score": score,
    "score_call": score_call,
}


def emit(function_name, *args, **kwargs):
    """Call a public function and print ONE line: PREFIX + JSON result, or PREFIX + {"error": ...}."""
    try:
        if function_name not in _PUBLIC:
            raise KeyError(f"no public function {function_name!r}")
        line = PREFIX + json.dumps(_PUBLIC[function_name](*args, **kwargs), allow_nan=False)
    except Exception as error:  # noqa: BLE001 - every failure goes back to the Rust side as one error line
        line = PREFIX + json.dumps({"error": f"{type(error).__name__}: {error}"})
    print(line, flush=True)
