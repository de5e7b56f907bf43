"""Terminal rendering of stream text: carriage returns, backspaces, ANSI codes."""

import json
from pathlib import Path

import pytest

from codeact_worker.capture import Capture
from codeact_worker.terminal import Line, render

# Shared with the engine's renderer (src/terminal.rs): both must agree.
CASES = json.loads((Path(__file__).resolve().parents[2] / "terminal_cases.json").read_text())["cases"]


@pytest.mark.parametrize(("raw", "shown"), [(c["raw"], c["shown"]) for c in CASES])
def test_render_shows_what_a_terminal_would(raw, shown):
    assert render(raw) == shown


def test_pieces_split_anywhere_render_the_same():
    raw = "a\rbc\x1b[31md\x1b[0m\n\rxyz\x08\x08Q\nend"
    for cut in range(len(raw) + 1):
        line = Line()
        out = line.feed(raw[:cut]) + line.feed(raw[cut:]) + line.take()
        # An escape sequence cut in two is two plain pieces; everything else renders alike.
        if "\x1b" not in raw[max(0, cut - 5) : cut]:
            assert out == render(raw), cut


def test_a_progress_bar_of_200000_redraws_leaves_its_last_frame_uncapped():
    cap = Capture(4096)
    for i in range(1, 200001):
        cap.stream("stdout", "\rprogress %d/200000" % i)
    cap.stream("stdout", "\nfinished\n")
    (item,) = cap.take(final=True)
    assert item["text"] == "progress 200000/200000\nfinished\n"
    assert not cap.truncated


def test_a_redrawn_line_is_held_while_the_cell_runs_and_plain_text_is_not():
    cap = Capture(4096)
    cap.stream("stdout", "waiting...")
    assert [i["text"] for i in cap.take(final=False)] == ["waiting..."]
    cap.stream("stderr", "\r 10%")
    cap.stream("stderr", "\r 20%")
    assert cap.take(final=False) == []
    cap.stream("stderr", "\r100%")
    assert [i["text"] for i in cap.take(final=True)] == ["100%"]


def test_a_line_that_never_ends_is_still_capped():
    cap = Capture(1000)
    for _ in range(1000):
        cap.stream("stdout", "x" * 100)
    text = "".join(i["text"] for i in cap.take(final=True))
    assert len(text) < 1100
    assert "characters of output truncated" in text
    assert cap.truncated


def test_output_within_the_cap_is_not_called_truncated():
    cap = Capture(1000)
    cap.stream("stdout", "y" * 900)
    assert "".join(i["text"] for i in cap.take(final=True)) == "y" * 900
    assert not cap.truncated
