"""The listing of a session's working directory. Standard library only and no imports of the
package: the Jupyter backend runs this file's source in a kernel of its own (exec in a fresh
namespace), so that both backends list files the same way."""

import itertools
import os

# A listing is for people and clients to pick files from; a session that unpacked a whole
# dataset or environment gets the first entries, not a reply too big to send.
MAX_LISTED = 10_000


def _shown(name):
    """A name as text: bytes that are not UTF-8 become U+FFFD (JSON cannot carry them)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def list_entries(limit=MAX_LISTED):
    """Every entry under the working directory as a relative path, depth first with each
    folder's entries sorted by name (a folder is followed by its entries, before its next
    sibling); folders end with '/'. Symbolic links are listed as what they are, never followed.
    At most `limit` entries, the first in that order; of a folder with more entries than are
    left to list, only as many are read (which ones is then up to the file system). A folder
    the session cannot read is listed but not entered.

    Returns (names, truncated): truncated is true exactly when some entry was left out, so a
    tree of `limit` entries is whole."""
    names = []
    truncated = False
    # Entries still to list, the next one last: (path, is a folder).
    todo = [("", True)]
    while todo:
        if len(names) >= limit:
            truncated = True
            break
        path, folder = todo.pop()
        if path:
            names.append(_shown(path))
        if not folder:
            continue
        room = limit - len(names)
        try:
            with os.scandir(path or ".") as it:
                # One more than there is room for tells whether the folder had more.
                entries = list(itertools.islice(it, room + 1))
        except OSError:
            continue
        if len(entries) > room:
            truncated = True
            del entries[room:]
        entries.sort(key=lambda e: e.name, reverse=True)
        for e in entries:
            is_dir = e.is_dir(follow_symlinks=False)
            todo.append((path + e.name + ("/" if is_dir else ""), is_dir))
    return names, truncated
