"""Time limits: the checks' own (the MATH grader's 10 s) and the MINT executor's 30 s per cell.

Both use SIGALRM. Sessions run cells on the main thread, where a signal handler can stop Python
code wherever it is (inside sympy's simplification too). Off the main thread (no signal handler
can be set there) ``call_with_limit`` runs the call in a daemon thread and stops waiting for it
when the time is up; the thread itself then runs on to its end in the background.
"""

import signal
import threading
import time

CELL_LIMIT_SECONDS = 30

# The shell and the two callbacks of the installed cell limit, to replace or remove them.
_cell = {"shell": None, "callbacks": None}


class _Expired(BaseException):
    """Raised by the limit's SIGALRM handler. Not an Exception, so that the broad
    ``except Exception`` of the limited code (sympy has some) does not swallow it."""


def call_with_limit(seconds, function, *args):
    """``(True, function(*args))`` when the call returns within ``seconds``, ``(False, None)``
    when it does not; the call's own exceptions propagate. An alarm armed before (an outer
    limit) is restored afterwards with what was left of it."""
    if threading.current_thread() is threading.main_thread():
        return _limited_by_alarm(seconds, function, args)
    return _limited_by_thread(seconds, function, args)


def _limited_by_alarm(seconds, function, args):
    armed = [True]

    def expire(_signum, _frame):
        if armed[0]:
            raise _Expired()

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        try:
            value = function(*args)
        finally:
            # The alarm may still go off up to here; past this line the handler does nothing.
            armed[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        return False, None
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
    return True, value


def _limited_by_thread(seconds, function, args):
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - raised again in the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="codeact-limited-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return False, None
    if "error" in outcome:
        raise outcome["error"]
    return True, outcome["value"]


def install_cell_limit(shell, seconds=None):
    """From the next cell on, every cell ``shell`` runs has the MINT executor's time limit: after
    ``seconds`` (default ``CELL_LIMIT_SECONDS``) SIGALRM raises
    ``TimeoutError("Timed out after {seconds} seconds.")`` inside the cell. The alarm is armed by
    IPython's ``pre_run_cell`` event and disarmed by ``post_run_cell``. Installing again
    replaces the callbacks installed before. Call it on the main thread."""
    if seconds is None:
        seconds = CELL_LIMIT_SECONDS
    remove_cell_limit()
    message = f"Timed out after {seconds} seconds."

    # The name is the frame a timeout's traceback shows, as the original's handler did.
    def signal_handler(signum, frame):
        raise TimeoutError(message)

    def arm(info=None):
        signal.signal(signal.SIGALRM, signal_handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(result=None):
        signal.setitimer(signal.ITIMER_REAL, 0)

    shell.events.register("pre_run_cell", arm)
    shell.events.register("post_run_cell", disarm)
    _cell["shell"], _cell["callbacks"] = shell, (arm, disarm)


def remove_cell_limit():
    """Unregister the installed cell limit, if any, and disarm its alarm."""
    shell, callbacks = _cell["shell"], _cell["callbacks"]
    if shell is None:
        return
    for event, callback in zip(("pre_run_cell", "post_run_cell"), callbacks):
        # Gone already when the shell was reset in between.
        if callback in shell.events.callbacks.get(event, ()):
            shell.events.unregister(event, callback)
    disarm_cell_alarm()
    _cell["shell"] = _cell["callbacks"] = None


def disarm_cell_alarm():
    """Stop the running cell's alarm, if a cell limit is installed: the harness's own cells
    (``emit``) are not the model's code, and the limit is not theirs."""
    if _cell["shell"] is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
