"""Rich values as MIME bundles, as Jupyter keeps them: every representation an object offers
(text/plain, text/html, text/markdown, text/latex, image/svg+xml, image/png, image/jpeg,
application/json, ...), made safe for the worker channel: text types as str, binary types as
base64 str, application/json and *+json types as JSON values. The engine's Rust type is
codeact_protocol::MimeBundle."""

import base64
import json
import sys

# What IPython's display formatters look for on an object, for the plain runner.
REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("text/latex", "_repr_latex_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("application/json", "_repr_json_"),
)


def is_json_type(mime):
    return mime == "application/json" or mime.endswith("+json")


def is_text_type(mime):
    """Types Jupyter carries as text rather than base64."""
    return mime.startswith("text/") or mime == "image/svg+xml" or is_json_type(mime)


def json_value(value):
    """value as plain JSON (no NaN or infinity, which the engine's parser refuses); a value
    that is not JSON becomes its repr, so nothing the cell showed is lost."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def clean(data):
    """A MIME bundle the channel carries, from what a formatter or _repr_mimebundle_ gave."""
    out = {}
    if not isinstance(data, dict):
        return out
    for mime, value in data.items():
        if not isinstance(mime, str) or value is None:
            continue
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if is_json_type(mime):
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw.decode("utf-8", "replace")
            elif is_text_type(mime):
                value = raw.decode("utf-8", "replace")
            else:
                value = base64.b64encode(raw).decode("ascii")
        if is_json_type(mime):
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            out[mime] = json_value(value)
        elif isinstance(value, str):
            out[mime] = value
        else:
            out[mime] = str(value)
    return out


def clean_metadata(md):
    """Per-type metadata as plain JSON; {} when there is none or it is not JSON."""
    if not md or not isinstance(md, dict):
        return {}
    md = json_value({str(k): v for k, v in md.items()})
    return md if isinstance(md, dict) else {}


def _method(obj, name):
    """obj's bound method `name`, if it has a callable one (never a class's function)."""
    if isinstance(obj, type):
        return None
    try:
        m = getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a broken __getattr__ means no such representation
        return None
    return m if callable(m) else None


def format_value(value):
    """(data, metadata) of value as IPython's formatters make them, for the plain runner: the
    _repr_*_ methods, then _repr_mimebundle_ over them, and text/plain as repr(value). A
    method that raises is left out."""
    data, md = {}, {}
    for mime, name in REPR_METHODS:
        m = _method(value, name)
        if m is None:
            continue
        try:
            r = m()
        except Exception:  # noqa: BLE001, S112 - as IPython: a failing formatter is skipped
            continue
        if isinstance(r, tuple) and len(r) == 2:
            r, meta = r
            if isinstance(meta, dict) and meta:
                md[mime] = meta
        if r is not None:
            data[mime] = r
    m = _method(value, "_repr_mimebundle_")
    if m is not None:
        try:
            r = m(include=None, exclude=None)
        except Exception:  # noqa: BLE001 - as above
            r = None
        if isinstance(r, tuple) and len(r) == 2:
            r, meta = r
            if isinstance(meta, dict):
                md.update(meta)
        if isinstance(r, dict):
            data.update(r)
    if "text/plain" not in data:
        data["text/plain"] = repr(value)
    return clean(data), clean_metadata(md)


class PandasAsInAKernel:
    """A pre-cell hook. Outside a Jupyter kernel pandas takes IPython for a terminal and fits a
    DataFrame's text into the terminal (columns=0: as many as fit), which without a terminal is
    80 columns: a wide frame loses its middle columns to "...". In a kernel pandas shows up to
    20 columns, wrapped at display.width: give sessions that, once, so a user's own setting
    stands."""

    def __init__(self):
        self.done = False

    def __call__(self, *_info):
        if self.done:
            return
        pd = sys.modules.get("pandas")
        if pd is None:
            return
        self.done = True
        try:
            if pd.get_option("display.max_columns") == 0:
                pd.set_option("display.max_columns", 20)
        except Exception:  # noqa: BLE001, S110 - a broken pandas keeps its own options
            pass
