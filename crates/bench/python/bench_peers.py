"""Peer measurements for `codeact bench exec`: ipykernel kernels driven by jupyter_client.

Run with the bench venv's Python (see scripts/bench-peers.sh). Progress goes to stderr; the
result is one JSON object on stdout, which `codeact bench exec` parses:

  {"peer": "ipykernel", "versions": {...},
   "cold_start_ms": [...], "round_trip_ms": [...],
   "idle": {"sessions": N, "processes": P, "uss_bytes": B, "pss_bytes": B, "rss_bytes": B,
            "idle_cpu_pct": X},
   "fit": {...same fields..., "target": N, "stopped": "why", "seconds": S,
           "creation_ms": [...]},
   "overhead": {"driver": {...}}}

Memory is read from /proc/PID/smaps_rollup exactly as the Rust side reads it for codeact:
USS = Private_Clean + Private_Dirty, PSS = Pss, RSS = Rss, summed over every process of every
kernel (the kernel and anything it forked); nothing is subtracted. Idle CPU is the share of one
core the idle kernels used over a short window (utime + stime from /proc/PID/stat).
"""

import argparse
import json
import os
import subprocess
import sys
import time


def log(msg):
    print("[ipykernel] " + msg, file=sys.stderr, flush=True)


def smaps(pid):
    """Rss, Pss and Private_* of one process in bytes; None when it is gone."""
    out = {"rss": 0, "pss": 0, "uss": 0}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                key, kb = parts[0], parts[1]
                if not kb.isdigit():
                    continue
                v = int(kb) * 1024
                if key == "Rss:":
                    out["rss"] += v
                elif key == "Pss:":
                    out["pss"] += v
                elif key in ("Private_Clean:", "Private_Dirty:"):
                    out["uss"] += v
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return out


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
        return int(fields[11]) + int(fields[12])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def descendants(roots):
    """The given pids and every process below them, from the ppid links in /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    seen, stack = [], list(roots)
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.append(p)
        stack.extend(children.get(p, ()))
    return seen


def measure(pids, window):
    total = {"processes": 0, "uss_bytes": 0, "pss_bytes": 0, "rss_bytes": 0}
    for pid in pids:
        m = smaps(pid)
        if m is None:
            continue
        total["processes"] += 1
        total["uss_bytes"] += m["uss"]
        total["pss_bytes"] += m["pss"]
        total["rss_bytes"] += m["rss"]
    if window > 0:
        before = {p: cpu_ticks(p) for p in pids}
        t0 = time.monotonic()
        time.sleep(window)
        dt = time.monotonic() - t0
        ticks = 0
        for p, b in before.items():
            a = cpu_ticks(p)
            if a is not None and b is not None:
                ticks += a - b
        hz = os.sysconf("SC_CLK_TCK")
        total["idle_cpu_pct"] = 100.0 * ticks / hz / dt
    return total


class Kernel:
    """One ipykernel with its manager and blocking client."""

    def __init__(self, km, kc):
        self.km = km
        self.kc = kc

    @classmethod
    def start(cls, kernel_name):
        from jupyter_client import KernelManager

        km = KernelManager(kernel_name=kernel_name)
        # The kernels' own console chatter (a warning about TCP without encryption) is noise here.
        km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
        except Exception:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            raise
        return cls(km, kc)

    def run(self, code, timeout=60.0):
        """Executes `code` and returns its stdout once both the reply and the idle status came."""
        kc = self.kc
        msg_id = kc.execute(code)
        text = []
        idle = replied = False
        deadline = time.monotonic() + timeout
        while not idle:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                text.append(msg["content"]["text"])
            elif kind == "error":
                raise RuntimeError("the cell failed: %s" % msg["content"].get("evalue"))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        while not replied:
            reply = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            replied = reply["parent_header"].get("msg_id") == msg_id
        return "".join(text)

    def pids(self):
        prov = getattr(self.km, "provisioner", None)
        pid = getattr(prov, "pid", None) or getattr(getattr(prov, "process", None), "pid", None)
        return [pid] if pid else []

    def quiet(self):
        """Closes the client's sockets; the kernel stays up, idle."""
        self.kc.stop_channels()

    def stop(self):
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            self.km.shutdown_kernel(now=True)
        except Exception as e:
            log("shutting down a kernel: %s" % e)


def check_output(out):
    if out != "1\n":
        raise RuntimeError("print(1) printed %r" % out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peer", choices=["ipykernel"])
    ap.add_argument("--sessions", type=int, default=30, help="cold starts to time")
    ap.add_argument("--gap-ms", type=float, default=100.0, help="pause before each timed cold start")
    ap.add_argument("--round-trips", type=int, default=1000, help="print(1) round trips to time")
    ap.add_argument("--idle", type=int, default=100, help="idle kernels whose memory is measured")
    ap.add_argument("--max-alive", type=int, default=100, help="kernels to keep alive at once")
    ap.add_argument("--time-cap", type=float, default=600.0, help="seconds the max-alive phase may take")
    ap.add_argument("--min-available-mib", type=int, default=4096,
                    help="stop adding kernels when MemAvailable drops below this")
    ap.add_argument("--cpu-window", type=float, default=3.0, help="seconds idle CPU is sampled over")
    ap.add_argument("--kernel-name", default="python3")
    args = ap.parse_args()

    import ipykernel
    import jupyter_client

    result = {
        "peer": args.peer,
        "versions": {
            "python": sys.version.split()[0],
            "ipykernel": ipykernel.__version__,
            "jupyter_client": jupyter_client.__version__,
        },
    }

    # (1) Cold start: new kernel to the output of its first print(1). One untimed start first,
    # so that disk caches are warm for every timed one.
    Kernel.start(args.kernel_name).stop()
    cold = []
    for i in range(args.sessions):
        time.sleep(args.gap_ms / 1000.0)
        t0 = time.perf_counter()
        k = Kernel.start(args.kernel_name)
        check_output(k.run("print(1)"))
        cold.append((time.perf_counter() - t0) * 1000.0)
        k.stop()
    result["cold_start_ms"] = cold
    if cold:
        log("cold start: %d kernels, median %.1f ms" % (len(cold), sorted(cold)[len(cold) // 2]))

    # (2) Round trips in one warm kernel.
    k = Kernel.start(args.kernel_name)
    for _ in range(20):
        k.run("print(1)")
    rtt = []
    for _ in range(args.round_trips):
        t0 = time.perf_counter()
        out = k.run("print(1)")
        rtt.append((time.perf_counter() - t0) * 1000.0)
        check_output(out)
    k.stop()
    result["round_trip_ms"] = rtt
    if rtt:
        log("round trip: %d cells, median %.2f ms" % (len(rtt), sorted(rtt)[len(rtt) // 2]))

    # (3) Idle memory, then (4) as many kernels as allowed.
    alive = []
    creation = []  # ms from asking for each kernel to its print(1) output, back to back
    target_idle = min(args.idle, args.max_alive)
    t_start = time.monotonic()
    stopped = "reached the target"

    def grow(n):
        nonlocal stopped
        while len(alive) < n:
            if time.monotonic() - t_start > args.time_cap:
                stopped = "time cap of %.0f s" % args.time_cap
                return False
            if mem_available_mib() < args.min_available_mib:
                stopped = "MemAvailable below %d MiB" % args.min_available_mib
                return False
            try:
                t0 = time.perf_counter()
                k = Kernel.start(args.kernel_name)
                check_output(k.run("print(1)"))
                creation.append((time.perf_counter() - t0) * 1000.0)
            except Exception as e:
                stopped = "kernel %d failed: %s" % (len(alive) + 1, e)
                return False
            k.quiet()
            alive.append(k)
            if len(alive) % 25 == 0:
                log("%d kernels alive" % len(alive))
        return True

    try:
        grow(target_idle)
        time.sleep(1.0)
        pids = descendants([p for k in alive for p in k.pids()])
        idle = measure(pids, args.cpu_window)
        idle["sessions"] = len(alive)
        result["idle"] = idle
        grow(args.max_alive)
        time.sleep(1.0)
        pids = descendants([p for k in alive for p in k.pids()])
        fit = measure(pids, args.cpu_window)
        fit.update({"sessions": len(alive), "target": args.max_alive, "stopped": stopped,
                    "seconds": time.monotonic() - t_start, "creation_ms": creation})
        result["fit"] = fit
        result["overhead"] = {"driver": measure([os.getpid()], 0)}
    finally:
        for k in alive:
            k.stop()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 1 << 30


if __name__ == "__main__":
    main()
