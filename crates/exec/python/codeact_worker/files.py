"""File operations in the session's working directory (the worker's current directory): the
engine's upload, download and listing. Each takes a request and returns the reply frame."""

import base64
import os

from . import listing, messages


def _checked(path):
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError("path must be relative and stay inside the working directory")
    return path


def write_file(path, data):
    """Writes base64 `data` to `path`, making its directories; never through a symlink."""
    path = _checked(path)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return messages.written()


def read_file(path, limit):
    """The content of `path`, base64, if it has at most `limit` bytes; never through a symlink."""
    fd = os.open(_checked(path), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("file is larger than the download limit")
    return messages.file_data(base64.b64encode(data).decode())


def list_files():
    """The working directory's listing (see listing.list_entries)."""
    return messages.file_list(*listing.list_entries())


def file_op(msg):
    """Runs a checked file request (see messages.WORKER_REQUESTS); failures become a
    file_error reply, never an exception."""
    op = msg["op"]
    path = msg.get("path", "")
    try:
        if op == "write_file":
            return write_file(path, msg["data"])
        if op == "read_file":
            return read_file(path, int(msg["limit"]))
        if op == "list_files":
            return list_files()
        raise ValueError("unknown operation %r" % op)
    except FileNotFoundError:
        return messages.file_error("not_found", "no such file: %s" % path)
    except Exception as e:  # noqa: BLE001 - any failure is the request's answer
        return messages.file_error("bad_request", str(e))
