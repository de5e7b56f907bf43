"""A real worker (sandbox off, plain Python runner) under ordinary code that used to break
sessions: threads and child processes printing at once, output between cells, strings UTF-8
cannot hold, exit(), fork, progress bars, and the process's name."""

import json
import os
import signal
import time

import pytest


def outputs(frames):
    """Every output of a cell's frames, in order, and how the cell ended."""
    items = [o for f in frames for o in f["outputs"]]
    return items, frames[-1]["error"]


def text(items, name="stdout"):
    return "".join(i["text"] for i in items if i["type"] == "stream" and i["name"] == name)


def test_threads_and_child_processes_printing_at_once_never_raise_or_reorder(worker):
    code = """
import os, sys, threading
# One write per line: print() writes its pieces separately, which threads may interleave in
# any Python (and any terminal).
def spam(tag):
    for i in range(1000):
        sys.stdout.write("%s %d\\n" % (tag, i))
threads = [threading.Thread(target=spam, args=("t%d" % n,)) for n in range(4)]
for t in threads: t.start()
for i in range(1000):
    sys.stdout.write("main %d\\n" % i)
    if i % 250 == 0:
        os.system("echo child %d" % i)
for t in threads: t.join()
print("end")
"""
    for cell in range(3):
        items, error = outputs(worker.run(cell, code))
        assert not error, items
        lines = text(items).splitlines()
        assert lines[-1] == "end"
        for tag in ("main", "t0", "t1", "t2", "t3"):
            seen = [int(x.split()[1]) for x in lines if x.startswith(tag + " ")]
            assert seen == list(range(1000)), tag
        assert [x for x in lines if x.startswith("child")] == ["child %d" % i for i in (0, 250, 500, 750)]


def test_output_printed_between_cells_comes_with_the_next_cell(worker):
    code = """
import threading, time, os
def later():
    for i in range(5):
        time.sleep(0.05)
        print("late", i)
    os.system("echo late child")
threading.Thread(target=later, daemon=True).start()
"""
    items, error = outputs(worker.run(0, code))
    assert not error
    time.sleep(1.5)
    items, _ = outputs(worker.run(1, "print('next')"))
    assert text(items).splitlines() == ["late 0", "late 1", "late 2", "late 3", "late 4", "late child", "next"]


@pytest.mark.parametrize(
    "code",
    [
        'raise ValueError("\\udc80")',
        'print("\\ud800 lone")',
        'import sys; sys.stderr.write("\\udfff")',
        '{"\\udc80": 1}',
        "open('\\udcff'.encode('utf-8', 'surrogateescape'), 'w').close(); import os; os.listdir('.')",
    ],
)
def test_strings_utf8_cannot_hold_never_end_the_session(worker, code):
    worker.run(0, "x = 41\nprint(1)")
    items, _ = outputs(worker.run(1, "print(1)\n" + code))
    assert text(items).startswith("1\n")
    items, error = outputs(worker.run(2, "print(x + 1)"))
    assert (text(items), error) == ("42\n", False)


@pytest.mark.parametrize(
    ("code", "failed"),
    [
        ("exit()", False),
        ("quit()", False),
        ("import sys; sys.exit()", False),
        ("import sys; sys.exit(0)", False),
        ("import sys; sys.exit(3)", True),
        ("import sys; sys.exit('fatal')", True),
        ("raise SystemExit", False),
    ],
)
def test_exit_ends_the_cell_and_keeps_the_session(worker, code, failed):
    worker.run(0, "kept = 'yes'")
    items, error = outputs(worker.run(1, "print('before')\n" + code + "\nprint('after')"))
    assert error == failed
    assert text(items) == "before\n"
    said = [i for i in items if i["type"] != "stream" or i["name"] == "stderr"]
    assert len(said) == 1
    assert "session and its variables are kept" in json.dumps(said)
    items, error = outputs(worker.run(2, "print(kept); print(input.__name__)"))
    assert (text(items), error) == ("yes\ninput\n", False)


def test_a_forked_child_prints_like_a_subprocess_and_exits_at_the_end_of_the_cell(worker):
    code = """
import os
pid = os.fork()
if pid == 0:
    print("child side")
else:
    os.waitpid(pid, 0)
    print("parent side")
"""
    for cell in range(3):
        items, error = outputs(worker.run(cell, code))
        assert not error
        assert text(items) == "child side\nparent side\n"
    # Children that outlive the parent's part of the cell end with theirs.
    code = """
import os, sys, time
kids = []
for i in range(20):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.2)
        sys.stdout.write("kid %d\\n" % i)
        break
    kids.append(pid)
else:
    print("forked", len(kids))
"""
    items, error = outputs(worker.run(5, code))
    assert "forked 20" in text(items)
    time.sleep(2)
    later, _ = outputs(worker.run(6, "print('ok')"))
    lines = text(items + later).splitlines()
    assert sorted(x for x in lines if x.startswith("kid")) == sorted("kid %d" % i for i in range(20))
    assert lines[-1] == "ok"


def test_the_worker_shows_a_short_honest_name(worker):
    items, _ = outputs(worker.run(0, "print(open('/proc/self/cmdline', 'rb').read().rstrip(b'\\0'))"))
    assert text(items) == "b'codeact-worker'\n"
    items, _ = outputs(worker.run(1, "print(open('/proc/self/comm').read().strip())"))
    assert text(items) == "codeact-worker\n"


def test_a_progress_bar_reaches_the_model_as_its_last_frame(worker):
    code = (
        "import sys\n"
        "for i in range(1, 200001):\n"
        "    sys.stdout.write('\\rprogress %d/200000' % i)\n"
        "print()\n"
        "print('done')"
    )
    items, error = outputs(worker.run(0, code))
    assert not error
    assert text(items) == "progress 200000/200000\ndone\n"
    assert not worker.frames[-1]["truncated"]


def test_no_worker_copies_are_left_waiting(worker):
    items, _ = outputs(worker.run(0, "import os\nfor _ in range(3):\n    os.fork()\nprint('x')"))
    time.sleep(1)
    later, _ = outputs(worker.run(1, "import os; print('pid', os.getpid())"))
    # Copies of copies let go of the channel too, quietly.
    assert text(items + later, "stderr") == ""
    items = later
    me = int(text(items).split("pid ")[1])
    # Zombies are not alive; the cell's code did not wait for them, and reaping them behind
    # its back would break a later waitpid() (multiprocessing's join, say).
    assert live_children_of(me) == []


def live_children_of(pid):
    """Live processes whose parent is pid (zombies are dead)."""
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if int(ppid) == pid and state != "Z":
                kids.append(int(p))
    return kids


def test_an_interrupt_stops_the_cells_forked_copies_and_commands_too(worker):
    worker.run(0, "kept = 1")
    code = """
import os, subprocess, sys, time
for _ in range(5):
    if os.fork() == 0:
        while True:
            time.sleep(0.01)
p = subprocess.Popen(["sleep", "1000"])
sys.stdout.write("armed\\n")
while True:
    time.sleep(0.01)
"""
    worker.chan.send({"op": "execute", "cell": 1, "code": code})
    while True:
        frame = worker.recv()
        if "armed" in json.dumps(frame):
            break
    os.kill(worker.proc.pid, signal.SIGINT)
    while frame["type"] != "done":
        frame = worker.recv()
    assert frame["error"]
    errors = [o for f in worker.frames for o in f.get("outputs", []) if o["type"] == "error"]
    assert [e["ename"] for e in errors] == ["KeyboardInterrupt"]
    deadline = time.monotonic() + 30
    while live_children_of(worker.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_children_of(worker.proc.pid) == []
    items, error = outputs(worker.run(2, "print(kept)"))
    assert (text(items), error) == ("1\n", False)
