"""M³ToolEval inside a codeact session: the tools of the benchmark's five domains and the part of
its protocol that Python semantics define (see harness.py).

The product writes this package to disk, imports it and deletes the files right away, so every
submodule is imported here and all data is read now (data.py); nothing reads a file later.
Facts come from the benchmark pack's PROTOCOL.md and tools.json (behaviour of every tool)."""

from . import data, domains, harness, observe, vectors

__all__ = ["data", "domains", "harness", "observe", "vectors"]
