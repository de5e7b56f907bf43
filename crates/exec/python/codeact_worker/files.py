"""File operations in the session's working directory (the current directory of the worker):
write, read and list, for the engine's upload, download and listing."""

import base64
import os


def file_op(msg):
    op = msg.get("op")
    path = msg.get("path", "")
    try:
        if op in ("write_file", "read_file"):
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ValueError("path must be relative and stay inside the working directory")
        if op == "write_file":
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(msg.get("data", "")))
            return {"type": "file", "ok": True}
        if op == "read_file":
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read(int(msg.get("limit", 1 << 26)) + 1)
            if len(data) > int(msg.get("limit", 1 << 26)):
                raise ValueError("file is larger than the download limit")
            return {"type": "file", "ok": True, "data": base64.b64encode(data).decode()}
        if op == "list_files":
            names = []
            for e in sorted(os.scandir("."), key=lambda e: e.name):
                names.append(e.name + ("/" if e.is_dir(follow_symlinks=False) else ""))
            return {"type": "file", "ok": True, "names": names}
        raise ValueError("unknown operation %r" % op)
    except FileNotFoundError:
        return {"type": "file", "ok": False, "kind": "not_found", "error": "no such file: %s" % path}
    except Exception as e:
        return {"type": "file", "ok": False, "kind": "bad_request", "error": str(e)}
