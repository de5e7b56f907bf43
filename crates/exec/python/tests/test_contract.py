"""The Python half of the contract with the engine (contract.json): the requests the worker
package accepts are exactly those declared, every message it can send has exactly the
declared keys, and a real worker (sandbox off) answers every request with such messages."""

import inspect

import pytest

from codeact_worker import listing, messages


def keys(d):
    return sorted(d)


def sample(fn):
    """The message `fn` makes, from placeholder arguments."""
    return fn(*(None for _ in inspect.signature(fn).parameters))


def test_accepted_requests_are_those_declared(contract):
    for channel, table in (("zygote", messages.ZYGOTE_REQUESTS), ("worker", messages.WORKER_REQUESTS)):
        declared = contract[channel]["requests"]
        assert {op: sorted(k) for op, k in table.items()} == {op: sorted(k) for op, k in declared.items()}
    assert sorted(contract) == ["comment", "max_listed_files", "worker", "zygote"]
    assert sorted(messages.LIMITS) == sorted(contract["zygote"]["limits"])


def test_the_listing_cap_is_the_declared_one(contract):
    assert listing.MAX_LISTED == contract["max_listed_files"]


@pytest.mark.parametrize(
    "channel,kind,makers",
    [
        ("zygote", "replies", messages.ZYGOTE_REPLIES),
        ("worker", "replies", messages.WORKER_REPLIES),
        ("worker", "outputs", messages.OUTPUTS),
    ],
)
def test_every_message_sent_has_the_declared_keys(contract, channel, kind, makers):
    declared = contract[channel][kind]
    made = {}
    for fn in makers:
        msg = sample(fn)
        made[msg["type"]] = keys(msg)
    assert made == {t: sorted(k) for t, k in declared.items()}


def test_requests_are_checked_strictly():
    ok = {"op": "execute", "cell": 1, "code": "1"}
    assert messages.check_request(messages.WORKER_REQUESTS, ok) == "execute"
    for bad in (
        {"op": "execute", "cell": 1},
        {"op": "execute", "cell": 1, "code": "1", "extra": 0},
        {"op": "explode"},
        {"cell": 1},
        [],
    ):
        with pytest.raises(ValueError):
            messages.check_request(messages.WORKER_REQUESTS, bad)
    config = dict.fromkeys(messages.ZYGOTE_REQUESTS["config"])
    config["op"] = "config"
    config["limits"] = dict.fromkeys(messages.LIMITS, 1)
    assert messages.check_request(messages.ZYGOTE_REQUESTS, config) == "config"
    config["limits"]["extra"] = 1
    with pytest.raises(ValueError):
        messages.check_request(messages.ZYGOTE_REQUESTS, config)


def check_frame(contract, frame):
    assert keys(frame) == sorted(contract["worker"]["replies"][frame["type"]]), frame
    for out in frame.get("outputs", ()):
        assert keys(out) == sorted(contract["worker"]["outputs"][out["type"]]), out


def test_a_real_worker_answers_every_request_with_declared_shapes(contract, worker):
    frames = worker.run(1, "import time\nprint('a', flush=True)\ntime.sleep(1.5)\n1/0")
    assert [f["type"] for f in frames][-1] == "done" and frames[-1]["error"] is True
    assert "output" in [f["type"] for f in frames]
    frames = worker.run(2, "print('b')\n2")
    assert frames[-1]["outputs"][-1]["type"] == "result"
    assert worker.call({"op": "write_file", "path": "d/x", "data": "eA=="})["type"] == "written"
    assert worker.call({"op": "read_file", "path": "d/x", "limit": 10})["type"] == "file_data"
    listed = {"type": "file_list", "names": ["d/", "d/x"], "truncated": False}
    assert worker.call({"op": "list_files"}) == listed
    assert worker.call({"op": "read_file", "path": "gone", "limit": 10})["kind"] == "not_found"
    assert worker.call({"op": "write_file", "path": "../x", "data": ""})["kind"] == "bad_request"
    seen = set()
    for frame in worker.frames:
        check_frame(contract, frame)
        seen.add(frame["type"])
        seen.update("output:" + o["type"] for o in frame.get("outputs", ()))
    declared = set(contract["worker"]["replies"]) | {"output:" + t for t in contract["worker"]["outputs"]}
    # Plain Python (no IPython here) has no display().
    assert declared - seen <= {"output:display"}


def test_a_worker_ends_on_a_request_it_does_not_know(worker):
    worker.chan.send({"op": "execute", "cell": 1})
    assert worker.chan.recv() is None


def test_an_interrupt_stops_the_running_cell_and_is_dropped_between_cells(worker):
    worker.chan.send({"op": "execute", "cell": 1, "code": "import time\nprint('a', flush=True)\ntime.sleep(60)"})
    assert worker.recv()["type"] == "output"
    worker.chan.send({"op": "interrupt"})
    done = worker.recv()
    assert done["type"] == "done" and done["error"] is True, done
    assert "KeyboardInterrupt" in str(done["outputs"]), done
    # Between cells there is nothing to interrupt: the worker lives on.
    worker.chan.send({"op": "interrupt"})
    frames = worker.run(2, "print(2)")
    assert frames[-1]["error"] is False
    assert frames[-1]["outputs"] == [{"type": "stream", "name": "stdout", "text": "2\n"}]
