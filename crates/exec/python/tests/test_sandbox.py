"""The parts of the sandbox that need no privileges: which limits sessions get and that they
are applied, and which host paths a session sees."""

import json
import sys

from conftest import run_python

from codeact_worker import sandbox

ASKED = {
    "file_size_bytes": 1 << 30,
    "memory_bytes": 2 << 30,
    "cpu_seconds": 3600,
    "open_files": 4096,
    "core_bytes": 0,
    "nproc": None,
}


def test_limits_above_a_hard_limit_are_lowered_to_it_and_reported_so():
    out = run_python(
        """
import json, resource, sys
from codeact_worker import sandbox
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))
limits = sandbox.effective_limits(json.loads(sys.argv[1]))
sandbox.set_limits(limits)
names = ("RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_CORE")
print(json.dumps([limits, [resource.getrlimit(getattr(resource, n)) for n in names]]))
""",
        json.dumps(ASKED),
    )
    limits, applied = json.loads(out)
    assert limits == dict(ASKED, open_files=512)
    assert applied == [[1 << 30] * 2, [2 << 30] * 2, [3600] * 2, [512, 512], [0, 0]]


def test_a_limit_that_cannot_be_set_is_an_error_not_ignored():
    out = run_python(
        """
import resource
from codeact_worker import sandbox
resource.setrlimit(resource.RLIMIT_CPU, (100, 100))
limits = {"file_size_bytes": None, "memory_bytes": None, "cpu_seconds": 200,
          "open_files": None, "core_bytes": None, "nproc": None}
try:
    sandbox.set_limits(limits)
except (ValueError, OSError) as e:
    print("refused")
"""
    )
    assert out == "refused\n"


def test_sessions_see_system_paths_and_this_python_once_each(tmp_path):
    extra = tmp_path / "data"
    extra.mkdir()
    paths = sandbox.ro_paths([str(extra), str(extra / "inner"), "/usr/lib"])
    assert "/usr" in paths and "/" not in paths
    assert str(extra) in paths
    # Nothing nested in a path already shown, nothing that does not exist.
    assert "/usr/lib" not in paths and str(extra / "inner") not in paths
    assert len(paths) == len(set(paths))
    assert any(sys.prefix == p or sys.prefix.startswith(p + "/") for p in paths)
