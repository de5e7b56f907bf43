"""Running one cell: with IPython when the session Python has it (magics, `!cmd`, rich
display), else with plain exec/eval; and turning the cell's matplotlib figures into PNGs."""

import base64
import builtins
import io
import re
import sys

from . import messages, rich

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def exit_outcome(code):
    """How a cell that raised SystemExit (exit(), quit(), sys.exit()) ends: as in a Jupyter
    kernel the cell stops and the session lives on, said in one line. Returns (failed, output):
    a zero or absent code is a normal end (a stderr line), any other an error."""
    if code is None or code == 0:
        line = "exit(): the cell stopped here; the session and its variables are kept\n"
        return False, messages.stream("stderr", line)
    line = "SystemExit: %s (the cell stopped here; the session and its variables are kept)" % (code,)
    return True, messages.error("SystemExit", str(code), [line])


class PlainRunner:
    """Runs cells with exec/eval when IPython is not installed."""

    def __init__(self, capture):
        import ast

        self.ast = ast
        self.capture = capture
        self.ns = {"__name__": "__main__", "__builtins__": builtins}
        self.count = 0

    def run(self, code):
        """Runs one cell; True when it raised."""
        ast = self.ast
        self.count += 1
        try:
            tree = ast.parse(code, "<cell>", "exec")
        except SyntaxError as e:
            self._error(type(e), e, None)
            return True
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        try:
            exec(compile(tree, "<cell>", "exec"), self.ns)
            if last is not None:
                value = eval(compile(last, "<cell>", "eval"), self.ns)
                if value is not None:
                    self.ns["_"] = value
                    self.capture.rich(messages.result(self.count, *rich.format_value(value)))
        except SystemExit as e:
            failed, item = exit_outcome(e.code)
            self.capture.rich(item)
            return failed
        except BaseException as e:  # noqa: BLE001 - the cell's failure is its output
            self._error(type(e), e, e.__traceback__)
            return True
        return False

    def _error(self, etype, value, tb):
        import traceback

        lines = traceback.format_exception(etype, value, tb)
        keep = [lines[0]] if lines and lines[0].startswith("Traceback") else []
        seen_cell = False
        for frame in lines[1:]:
            # The runner's own frames come before the cell's first: leave them out. Only the
            # frame's first line names its file; the source lines after it are code.
            if frame.startswith("  File ") and not seen_cell:
                seen_cell = '"<cell>"' in frame.split("\n", 1)[0]
                if not seen_cell:
                    continue
            keep.append(frame)
        tbl = [ANSI.sub("", x.rstrip("\n")) for x in keep]
        self.capture.rich(messages.error(etype.__name__, str(value), tbl))


def make_ipython_runner(capture):
    """An IPython InteractiveShell whose display machinery feeds the capture."""
    import warnings

    from IPython.core.autocall import ExitAutocall
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.xmode = "Plain"
    cfg.InteractiveShell.autocall = 0
    # The singleton, so that IPython's display() finds the shell and publishes through it.
    shell = InteractiveShell.instance(config=cfg)

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            data, md = rich.clean(format_dict), rich.clean_metadata(md_dict)
            # The cell's own number: IPython 9 counts the cell up before running it, 8 after;
            # prompt_count is the running cell's number in both.
            capture.rich(messages.result(self.prompt_count, data, md))

        def finish_displayhook(self):
            pass

    class Pub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            capture.rich(messages.display(rich.clean(data), rich.clean_metadata(metadata)))

        def clear_output(self, wait=False):
            pass

    shell.events.register("pre_run_cell", rich.PandasAsInAKernel())
    shell.displayhook = Hook(shell=shell, cache_size=shell.cache_size)
    shell.display_pub = Pub(shell=shell)
    shell.display_trap.hook = shell.displayhook

    def showtraceback(etype, evalue, stb):
        if isinstance(evalue, SystemExit):
            capture.rich(exit_outcome(evalue.code)[1])
            return
        ename = getattr(etype, "__name__", str(etype))
        capture.rich(messages.error(ename, str(evalue), [ANSI.sub("", x) for x in stb]))

    shell._showtraceback = showtraceback

    class Exit(ExitAutocall):
        """exit and quit, bare or called with a code: they end the cell, not the session."""

        def __call__(self, code=None):
            raise SystemExit(code)

    shell.exiter = Exit(ip=shell)
    shell.user_ns["exit"] = shell.user_ns["quit"] = shell.exiter
    # IPython adds this hint for a terminal; the exit line above already says what happened.
    warnings.filterwarnings("ignore", message="To exit: use 'exit', 'quit', or Ctrl-D.")
    # `!cmd` in a subprocess on the session's own stdout and stderr (which the worker reads),
    # as a notebook shows it: IPython's default runs it under a pseudo-terminal, which mixes
    # the two streams and turns every newline into CRLF.
    shell.system = shell.system_raw
    return IPythonRunner(shell)


class IPythonRunner:
    def __init__(self, shell):
        self.shell = shell

    def run(self, code):
        """Runs one cell; True when it raised."""
        r = self.shell.run_cell(code, store_history=True)
        if isinstance(r.error_in_exec, SystemExit):
            return exit_outcome(r.error_in_exec.code)[0]
        return not r.success


def flush_figures(capture):
    """Every open matplotlib figure as a PNG display output, then closes them."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        nums = plt.get_fignums()
    except Exception as e:  # noqa: BLE001 - a pyplot broken by the cell must not break it
        capture.stream("stderr", "could not list the figures: %s\n" % e)
        return
    for n in nums:
        fig = plt.figure(n)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="png", bbox_inches="tight")
        except Exception as e:  # noqa: BLE001 - a broken figure must not break the cell
            capture.stream("stderr", "could not render figure %d: %s\n" % (n, e))
            continue
        w, h = fig.get_size_inches() * fig.dpi
        capture.rich(
            messages.display(
                {
                    "text/plain": "<Figure size %gx%g with %d Axes>" % (w, h, len(fig.axes)),
                    "image/png": base64.b64encode(buf.getvalue()).decode(),
                }
            )
        )
    plt.close("all")
