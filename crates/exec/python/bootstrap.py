# The program the engine runs with `python -I -c` to start the zygote. argv: the descriptor
# of a sealed memory file holding the codeact_worker package as JSON ({module name: source}),
# then the zygote's own arguments. The modules are compiled from that memory, never read
# from disk; tracebacks still show their source lines (get_source), under the file names
# codeact_worker/<module>.py.
import json
import os
import sys
from importlib.machinery import ModuleSpec


class EmbeddedPackage:
    """Finder and loader of the package's modules, from their sources in memory."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, name, path=None, target=None):
        if name not in self.sources:
            return None
        return ModuleSpec(name, self, origin=self._filename(name), is_package="." not in name)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    def get_code(self, name):
        return compile(self.sources[name], self._filename(name), "exec", dont_inherit=True)

    def get_source(self, name):
        return self.sources[name]

    def _filename(self, name):
        return name.replace(".", "/") + ("/__init__.py" if "." not in name else ".py")


with os.fdopen(int(sys.argv[1]), "rb") as f:
    f.seek(0)
    sys.meta_path.insert(0, EmbeddedPackage(json.loads(f.read())))

from codeact_worker.zygote import main  # noqa: E402 - importable only now

main(sys.argv[2:])
