"""Output capture: order of streams and rich outputs, the head/tail cap and its marker,
invalid UTF-8, and sys.stdout/sys.stderr as TextSinks."""

import json

import pytest
from conftest import run_python

from codeact_worker.capture import Capture, TextSink, clean_text


def texts(items):
    return [(i["type"], i.get("name"), i.get("text")) for i in items]


def test_streams_keep_their_order_and_merge_adjacent_text():
    cap = Capture(1000)
    cap.stream("stdout", "a")
    cap.stream("stdout", "b")
    cap.stream("stderr", "c")
    cap.stream("stdout", "d")
    cap.stream("stdout", "")
    assert texts(cap.take(final=True)) == [
        ("stream", "stdout", "ab"),
        ("stream", "stderr", "c"),
        ("stream", "stdout", "d"),
    ]
    assert not cap.truncated


def test_rich_outputs_sit_between_the_text_around_them():
    cap = Capture(1000)
    cap.stream("stdout", "before")
    cap.rich({"type": "display", "data": {"text/plain": "x"}})
    cap.stream("stdout", "after")
    items = cap.take(final=True)
    assert [i["type"] for i in items] == ["stream", "display", "stream"]
    assert items[2]["text"] == "after"


def test_items_handed_out_never_grow():
    cap = Capture(1000)
    cap.stream("stdout", "a")
    first = cap.take(final=False)
    cap.stream("stdout", "b")
    assert texts(first) == [("stream", "stdout", "a")]
    assert texts(cap.take(final=True)) == [("stream", "stdout", "b")]
    assert cap.take(final=True) == []


def test_long_output_keeps_head_and_tail_around_a_marker():
    cap = Capture(256)
    for _ in range(100):
        cap.stream("stdout", "0123456789")
    (item,) = cap.take(final=True)
    assert cap.truncated
    text = item["text"]
    marker = "\n[... 744 characters of output truncated ...]\n"
    assert text == ("0123456789" * 13)[:128] + marker + ("0123456789" * 13)[-128:]


def test_the_tail_spans_streams_and_the_marker_takes_the_first_kept_name():
    cap = Capture(256)
    cap.stream("stdout", "a" * 200)
    cap.stream("stderr", "b" * 200)
    assert texts(cap.take(final=True)) == [
        ("stream", "stdout", "a" * 128),
        ("stream", "stderr", "\n[... 144 characters of output truncated ...]\n" + "b" * 128),
    ]


def test_a_rich_output_after_the_cap_flushes_the_tail_first():
    cap = Capture(256)
    cap.stream("stdout", "x" * 300)
    cap.rich({"type": "display", "data": {}})
    cap.stream("stdout", "late")
    items = cap.take(final=True)
    assert [i["type"] for i in items] == ["stream", "display", "stream"]
    assert items[0]["text"].endswith("x" * 128)
    # The head is used up: later text goes to the tail.
    assert items[2]["text"] == "late"


def test_the_limit_is_at_least_256():
    cap = Capture(10)
    cap.stream("stdout", "y" * 256)
    assert texts(cap.take(final=True)) == [("stream", "stdout", "y" * 256)]


def test_lone_surrogates_cannot_reach_json():
    assert clean_text("ok é") == "ok é"
    assert clean_text("a\ud800b") == "a\ufffdb"
    cap = Capture(1000)
    cap.stream("stdout", "\udcff")
    assert cap.take(final=True)[0]["text"] == "\ufffd"


def test_text_sink_writes_text_into_the_capture():
    cap = Capture(1000)
    out = TextSink(cap, "stdout", 1)
    assert (out.encoding, out.errors, out.fileno()) == ("utf-8", "replace", 1)
    assert out.writable() and not out.isatty()
    assert out.write("héllo\n") == 6
    print("printed", 1, file=out)
    with pytest.raises(TypeError):
        out.write(b"bytes")
    assert texts(cap.take(final=True)) == [("stream", "stdout", "héllo\nprinted 1\n")]


def test_text_sink_buffer_decodes_utf8_across_writes_and_replaces_invalid_bytes():
    cap = Capture(1000)
    err = TextSink(cap, "stderr", 2)
    e_acute = "é".encode()
    assert err.buffer.write(b"caf" + e_acute[:1]) == 4
    err.buffer.write(e_acute[1:] + b" \xff!")
    assert texts(cap.take(final=True)) == [("stream", "stderr", "café \ufffd!")]


def test_output_of_child_processes_lands_in_order_with_invalid_utf8_replaced(tmp_path):
    # FdPump takes over descriptors 1 and 2: only in a process of its own.
    result = tmp_path / "items.json"
    run_python(
        """
import json, os, sys
from codeact_worker.capture import Capture, FdPump, TextSink
cap = Capture(1000)
pump = FdPump(cap)
sink = TextSink(cap, "stdout", 1)
sink.write("one\\n")
os.system("echo two; echo three >&2")
pump.drain_all()
os.write(1, b"bad \\xff\\n")
# A write to sys.stdout first takes in what is waiting in the pipes.
sink.write("four\\n")
with open(sys.argv[1], "w") as f:
    json.dump(cap.take(final=True), f)
""",
        str(result),
    )
    items = json.loads(result.read_text())
    assert texts(items) == [
        ("stream", "stdout", "one\ntwo\n"),
        ("stream", "stderr", "three\n"),
        ("stream", "stdout", "bad \ufffd\nfour\n"),
    ]
