"""File operations in the working directory: write, read, list, the size limit, and paths
that would leave the directory."""

import base64
import os

import pytest

from codeact_worker import listing
from codeact_worker.files import file_op


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def b64(data):
    return base64.b64encode(data).decode()


def write(path, data):
    return file_op({"op": "write_file", "path": path, "data": b64(data)})


def read(path, limit=1 << 20):
    return file_op({"op": "read_file", "path": path, "limit": limit})


def test_written_files_read_back_and_are_listed(in_tmp):
    assert write("data/in.bin", bytes(range(256))) == {"type": "written"}
    assert write("a.txt", b"hello") == {"type": "written"}
    assert (in_tmp / "data" / "in.bin").read_bytes() == bytes(range(256))
    reply = read("data/in.bin")
    assert reply["type"] == "file_data"
    assert base64.b64decode(reply["data"]) == bytes(range(256))
    assert file_op({"op": "list_files"}) == {
        "type": "file_list",
        "names": ["a.txt", "data/", "data/in.bin"],
        "truncated": False,
    }


def test_the_listing_goes_into_folders_depth_first(in_tmp):
    for path in ["b/c/deep.txt", "b.txt", "a", "b/z", "b/a.csv"]:
        write(path, b"x")
    (in_tmp / "empty").mkdir()
    names = file_op({"op": "list_files"})["names"]
    assert names == ["a", "b/", "b/a.csv", "b/c/", "b/c/deep.txt", "b/z", "b.txt", "empty/"]


def test_a_huge_tree_gives_its_first_entries_up_to_the_cap(in_tmp):
    for i in range(10):
        for j in range(5):
            write(f"d{i}/f{j}", b"")
    names, truncated = listing.list_entries(limit=14)
    assert names[:13] == ["d0/", *[f"d0/f{j}" for j in range(5)], "d1/", *[f"d1/f{j}" for j in range(5)], "d2/"]
    # Only one more is read from d2, whichever the file system gives first.
    assert len(names) == 14 and names[13].startswith("d2/f"), names
    assert truncated


def tree(root, spec):
    """Makes the folders (names ending with '/') and empty files of spec under root."""
    for name in spec:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


@pytest.mark.parametrize(
    ("spec", "limit", "truncated"),
    [
        # Exactly as many entries as the cap: the listing is whole.
        (["a", "b", "c"], 3, False),
        (["d/", "d/x", "d/y"], 3, False),
        # An empty folder as the last entry at the cap is whole; one with anything is not.
        (["a", "b", "e/"], 3, False),
        (["a", "b", "e/", "e/x"], 3, True),
        # One more than the cap, in the top folder, in a folder, or deep down.
        (["a", "b", "c", "d"], 3, True),
        (["d/", "d/x", "d/y", "d/z"], 3, True),
        (["d/", "d/e/", "d/e/f/", "d/e/f/g"], 3, True),
        # A later sibling folder still to visit.
        (["a/", "a/x", "z/"], 2, True),
        (["a/", "a/x", "z/"], 3, False),
        ([], 1, False),
    ],
)
def test_truncated_says_exactly_whether_entries_were_left_out(in_tmp, spec, limit, truncated):
    tree(in_tmp, spec)
    names, cut = listing.list_entries(limit=limit)
    assert len(names) == min(limit, len(spec)), names
    assert cut is truncated, (names, cut)


def test_names_that_are_not_utf8_are_shown_with_replacement_characters(in_tmp):
    open(os.path.join(os.fsencode(in_tmp), b"caf\xe9.txt"), "wb").close()
    assert listing.list_entries() == (["caf\ufffd.txt"], False)


def test_writing_again_replaces_the_content():
    write("f", b"long content")
    write("f", b"short")
    assert base64.b64decode(read("f")["data"]) == b"short"


def test_files_over_the_limit_are_refused_and_at_the_limit_read():
    write("big", b"x" * 100)
    assert base64.b64decode(read("big", limit=100)["data"]) == b"x" * 100
    reply = read("big", limit=99)
    assert reply == {"type": "file_error", "kind": "bad_request", "error": "file is larger than the download limit"}


def test_a_missing_file_is_not_found():
    assert read("nothing/here") == {"type": "file_error", "kind": "not_found", "error": "no such file: nothing/here"}


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../outside", "a/../../outside", "a/.."])
def test_paths_must_stay_inside_the_working_directory(path, in_tmp):
    for reply in (write(path, b"x"), read(path)):
        assert reply["type"] == "file_error" and reply["kind"] == "bad_request", reply
        assert "relative" in reply["error"]
    assert not (in_tmp.parent / "outside").exists()


def test_symlinks_are_never_followed(in_tmp):
    target = in_tmp.parent / "target.txt"
    target.write_text("secret")
    os.symlink(target, in_tmp / "link")
    assert read("link")["kind"] == "bad_request"
    assert write("link", b"overwritten")["kind"] == "bad_request"
    assert target.read_text() == "secret"
    # Listed as what it is, not as a directory, and a link to a folder is not entered.
    os.symlink(in_tmp.parent, in_tmp / "up")
    assert file_op({"op": "list_files"})["names"] == ["link", "up"]


def test_bad_base64_is_a_bad_request():
    reply = write("f", b"")
    assert reply == {"type": "written"}
    reply = file_op({"op": "write_file", "path": "f", "data": "not base64!"})
    assert reply["type"] == "file_error" and reply["kind"] == "bad_request"
