"""The sandbox of a session, as system calls: namespaces and user ids, the session's root (a
tmpfs with read-only binds of the host paths Python needs, private /workspace and /tmp, a
minimal /dev), entering it, rlimits, dropping capabilities and installing seccomp filters."""

import ctypes
import errno
import os
import platform
import resource
import signal
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)

CLONE_PARENT = 0x00008000
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# pivot_root has no libc wrapper; its number differs between architectures.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(platform.machine())
# Nor has clone with namespace flags. (s390x passes clone's arguments in another order.)
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120}.get(platform.machine())

# The uid and gid of session code inside its user namespace.
SANDBOX_UID = 1000

# The namespaces of a session: made with its holder, kept by it, joined by each start.
SESSION_NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID

# Made once in the zygote rather than in every session's init (see prepare_seccomp).
CAP_HEADER = (ctypes.c_uint32 * 2)(0x20080522, 0)
CAP_NONE = (ctypes.c_uint32 * 6)()
for _name in ("mount", "umount2", "unshare", "setns", "prctl", "capset", "syscall", "sethostname"):
    getattr(libc, _name)


# Called with the interpreter lock held, as os.fork calls fork(2).
_pylibc = ctypes.PyDLL(None, use_errno=True)
_pylibc.syscall.restype = ctypes.c_long


def clone_process(flags):
    """fork(2), the child born in the new namespaces of `flags` (CLONE_NEW*), as os.fork does
    it for the interpreter: 0 in the child, the child's pid in the parent. One copy of the
    zygote's address space instead of two (unshare in a first child, fork the second)."""
    if SYS_CLONE is None:
        raise OSError(errno.ENOSYS, "clone: system call number unknown on %s" % platform.machine())
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = _pylibc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(flags | signal.SIGCHLD), None, None, None, None)
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, "clone: %s" % os.strerror(err))
    return pid


def check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def mount(src, dst, fstype, flags, data=None):
    check(
        libc.mount(
            src.encode() if src else None,
            dst.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        "mount %s on %s" % (src or fstype, dst),
    )


def prctl(option, arg2=0, arg3=0):
    check(libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0), "prctl %d" % option)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def map_ids(pid, uid, gid):
    write_file("/proc/%s/setgroups" % pid, "deny")
    write_file("/proc/%s/uid_map" % pid, "%d %d 1\n" % (SANDBOX_UID, uid))
    write_file("/proc/%s/gid_map" % pid, "%d %d 1\n" % (SANDBOX_UID, gid))


ST_TO_MS = (
    (1, MS_RDONLY),
    (2, MS_NOSUID),
    (4, MS_NODEV),
    (8, MS_NOEXEC),
    (1024, 1024),
    (2048, 2048),
    (4096, MS_RELATIME),
)


def bind_ro(src, dst):
    # src may be an O_PATH descriptor's magic link: the host path itself may not be
    # searchable by the session's uid (a venv under /root, say).
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "w").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    # Mounts inherited from a more privileged namespace are locked: keep their flags.
    flags = 0
    st = os.statvfs(dst)
    for st_bit, ms_bit in ST_TO_MS:
        if st.f_flag & st_bit:
            flags |= ms_bit
    mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)


def loopback_up():
    import fcntl

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1 | 0x40))  # SIOCSIFFLAGS
    finally:
        s.close()


def ro_paths(extra):
    """The host paths a session sees, read-only: system directories and this Python's own."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc"]
    exe = os.path.realpath(sys.executable)
    paths += [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(exe))]
    paths += [p for p in sys.path if p and os.path.isdir(p)]
    paths += list(extra)
    out = []
    for p in sorted({os.path.normpath(os.path.abspath(p)) for p in paths}, key=len):
        if p == "/" or not os.path.lexists(p):
            continue
        if any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            continue
        out.append(p)
    return out


def session_root(cfg):
    """Where a session's root is mounted inside its own mount namespace."""
    return cfg["stage"] + "/root"


def build_root(cfg):
    """In the holder: a tmpfs root with read-only views of the host paths Python needs."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    fds = cfg["path_fds"]
    stage = cfg["stage"]
    mount("codeact", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    root = session_root(cfg)
    os.makedirs(root)
    mount("codeact", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    # The writable mounts first: a read-only path under one of them (a venv under /tmp, say)
    # is then shown inside it instead of being hidden beneath it.
    size = int(cfg["disk_bytes"])
    for d in ("workspace", "tmp"):
        os.makedirs(root + "/" + d, exist_ok=True)
        mount("codeact", root + "/" + d, "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % size)
    os.chmod(root + "/workspace", 0o755)
    for p in cfg["ro_paths"]:
        if os.path.islink(p):
            dst = root + p
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(os.readlink(p), dst)
        elif p in fds:
            bind_ro("/proc/self/fd/%d" % fds[p], root + p)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    mount("codeact", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for n in ("null", "zero", "full", "random", "urandom"):
        open(dev + "/" + n, "w").close()
        mount("/dev/" + n, dev + "/" + n, None, MS_BIND)
    os.makedirs(dev + "/shm")
    mount("codeact", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % min(size, 64 << 20))
    links = (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    )
    for name, target in links:
        os.symlink(target, dev + "/" + name)
    # Pseudo-terminals of the session's own (a private devpts instance): pty.spawn, pexpect,
    # `script` and terminal programs work without seeing any of the host's terminals.
    os.makedirs(dev + "/pts")
    try:
        mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
        os.symlink("pts/ptmx", dev + "/ptmx")
    except OSError as e:
        # Not an isolation mechanism: sessions run without terminals, and the log says why.
        sys.stderr.write("codeact: no pseudo-terminals in sessions (%s)\n" % e)
    os.makedirs(root + "/proc", exist_ok=True)
    os.makedirs(root + "/etc", exist_ok=True)
    for d in ("home", "root"):
        os.makedirs(root + "/" + d, exist_ok=True)
    if cfg["network"] == "egress" and os.path.isfile("/etc/resolv.conf") and not os.path.islink("/etc/resolv.conf"):
        # The user-mode network stack answers DNS at its own address.
        write_file(stage + "/resolv.conf", "nameserver 10.0.2.3\n")
        mount(stage + "/resolv.conf", root + "/etc/resolv.conf", None, MS_BIND)
        mount(None, root + "/etc/resolv.conf", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    check(libc.sethostname(b"sandbox", 7), "sethostname")
    loopback_up()


def enter_root(cfg):
    """In the holder (pid 1 of the session's pid namespace), once per session: /proc of that
    pid namespace, then pivot into the root. Every later process of the session joins this
    mount namespace and so starts at the root."""
    root = session_root(cfg)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/.old", exist_ok=True)
    if SYS_PIVOT_ROOT is None:
        raise OSError("pivot_root: system call number unknown on %s" % platform.machine())
    check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    check(libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# The rlimits of the engine's "limits" message (messages.LIMITS), by key; None leaves one alone.
RLIMITS = (
    ("file_size_bytes", resource.RLIMIT_FSIZE),
    ("memory_bytes", resource.RLIMIT_DATA),
    ("cpu_seconds", resource.RLIMIT_CPU),
    ("open_files", resource.RLIMIT_NOFILE),
    ("core_bytes", resource.RLIMIT_CORE),
    ("nproc", resource.RLIMIT_NPROC),
)


def effective_limits(limits):
    """In the zygote: the limits every session gets, each the one asked for or, where this
    process's hard limit is already lower, that hard limit (which sessions inherit and cannot
    raise). The engine reports these as enforced, so set_limits must not fail on them."""
    out = {}
    for key, res in RLIMITS:
        want = limits[key]
        if want is not None:
            hard = resource.getrlimit(res)[1]
            if hard != resource.RLIM_INFINITY and hard < want:
                want = hard
        out[key] = want
    return out


def set_limits(limits):
    """In init: sets the limits of effective_limits, soft and hard. Lowering a limit always
    succeeds, so any failure is unexpected: it propagates, and the session does not start."""
    for key, res in RLIMITS:
        if limits[key] is not None:
            resource.setrlimit(res, (limits[key], limits[key]))


def drop_privileges():
    # Empty the bounding set; the kernel answers EINVAL past the last capability it knows.
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if cap > 0 and ctypes.get_errno() == errno.EINVAL:
                break
            check(-1, "drop capability %d from the bounding set" % cap)
    # capset(v3): clear effective, permitted and inheritable sets.
    check(libc.capset(CAP_HEADER, CAP_NONE), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def prepare_seccomp(progs):
    """In the zygote: the filters as ready-made structures, so that init only installs them.

    Everything a session's init does in Python dirties pages that its worker then owns alone;
    building ctypes types is among the costliest of those."""
    out = []
    for prog in progs or ():
        buf = ctypes.create_string_buffer(prog, len(prog))
        out.append((buf, Fprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))))
    return out


def install_seccomp(filters):
    if not filters:
        raise RuntimeError("no seccomp filter to install")
    for _buf, fp in filters:
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fp), 0, 0), "seccomp")
