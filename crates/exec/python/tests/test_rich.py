"""Rich values as MIME bundles: every representation kept, each carried as the channel can
(text as str, binary as base64, JSON types as JSON values), and the plain runner formatting a
value as IPython would."""

import json
import math
import sys

from codeact_worker import rich


def test_clean_keeps_every_type_in_its_channel_form():
    data = rich.clean(
        {
            "text/plain": "<HTML object>",
            "text/html": "<b>x</b>",
            "text/markdown": b"# t\xc3\xa9",
            "image/svg+xml": b"<svg/>",
            "image/png": b"\x89PNG",
            "image/jpeg": "/9j/",
            "application/json": {"a": [1, None]},
            "application/vnd.x+json": '{"b": 2}',
            "text/x-number": 3,
            "text/none": None,
            7: "not a type",
        }
    )
    assert data == {
        "text/plain": "<HTML object>",
        "text/html": "<b>x</b>",
        "text/markdown": "# t\u00e9",
        "image/svg+xml": "<svg/>",
        "image/png": "iVBORw==",
        "image/jpeg": "/9j/",
        "application/json": {"a": [1, None]},
        "application/vnd.x+json": {"b": 2},
        "text/x-number": "3",
    }
    assert rich.clean(None) == {} and rich.clean(["x"]) == {}


def test_json_the_engine_cannot_parse_never_reaches_the_channel():
    data = rich.clean({"application/json": {"x": math.nan, "y": [math.inf]}, "application/geo+json": {1, 2}})
    # Strict JSON (no NaN) round-trips; what is not JSON is kept as its repr.
    for v in data.values():
        json.loads(json.dumps(v, allow_nan=False))
    assert isinstance(data["application/json"], str) and "nan" in data["application/json"]
    assert rich.clean_metadata({"image/png": {"width": 10}}) == {"image/png": {"width": 10}}
    assert rich.clean_metadata({"x": object()}) == {}
    assert rich.clean_metadata(None) == {}


class Html:
    def _repr_html_(self):
        return "<table><tr><td>1</td></tr></table>"

    def __repr__(self):
        return "<Html>"


class Bundle:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": "**b**", "application/json": {"k": 1}}, {"application/json": {"expanded": True}}

    def _repr_html_(self):
        return "<i>overridden by the bundle? no: kept beside it</i>"


class Broken:
    def _repr_html_(self):
        raise RuntimeError("no html today")

    def _repr_png_(self):
        return b"\x89PNG", {"width": 5}


def test_format_value_collects_what_ipython_would():
    data, md = rich.format_value(Html())
    assert data == {"text/plain": "<Html>", "text/html": "<table><tr><td>1</td></tr></table>"} and md == {}
    data, md = rich.format_value(Bundle())
    assert data["text/markdown"] == "**b**" and data["application/json"] == {"k": 1}
    assert "text/html" in data and data["text/plain"].startswith("<")
    assert md == {"application/json": {"expanded": True}}
    data, md = rich.format_value(Broken())
    assert "text/html" not in data and data["image/png"] == "iVBORw=="
    assert md == {"image/png": {"width": 5}}
    # A class is not formatted through its instances' methods.
    data, _ = rich.format_value(Html)
    assert list(data) == ["text/plain"]
    assert rich.format_value(42) == ({"text/plain": "42"}, {})


def test_a_plain_worker_returns_the_whole_bundle(worker):
    code = (
        "class T:\n"
        "    def _repr_html_(self):\n"
        "        return '<b>bold</b>'\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'application/json': {'n': [1, 2]}}\n"
        "T()"
    )
    frames = worker.run(1, code)
    done = frames[-1]
    assert done["type"] == "done" and done["error"] is False
    (out,) = [o for f in frames for o in f.get("outputs", ()) if o["type"] == "result"]
    assert out["data"]["text/html"] == "<b>bold</b>"
    assert out["data"]["application/json"] == {"n": [1, 2]}
    assert out["data"]["text/plain"].startswith("<")
    assert out["metadata"] == {}


def test_pandas_gets_a_kernels_column_limit_once(monkeypatch):
    options = {"display.max_columns": 0}

    class FakePandas:
        @staticmethod
        def get_option(k):
            return options[k]

        @staticmethod
        def set_option(k, v):
            options[k] = v

    hook = rich.PandasAsInAKernel()
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    hook(None)
    assert not hook.done
    monkeypatch.setitem(sys.modules, "pandas", FakePandas)
    hook(None)
    assert options["display.max_columns"] == 20
    # The user's own choice afterwards stands.
    options["display.max_columns"] = 0
    hook(None)
    assert options["display.max_columns"] == 0
