"""codeact's session worker: the zygote, the sandbox builder and the cell runner of the local
backend, run by the engine with the session Python.

Process tree of one session (local backend, sandbox on):
  server --ctl--> zygote (imports preloaded, shell warmed, gc frozen; subreaper)
    fork -> builder (once per session: new user, mount, net, ipc and uts namespaces; builds
                     the session's root; exits once the server holds the namespaces)
    fork -> starter (per start: joins those namespaces and the session's cgroups, unshares a
                     fresh pid namespace, exits at once)
      fork -> init (pid 1 of the session; mounts /proc, enters the root, drops privileges,
                    installs seccomp, forks the worker, then execs codeact-init, which
                    reaps orphans; when it dies every process of the session dies)
        fork -> worker (runs cells; speaks length-prefixed JSON on its own socket)
A restart kills init and starts anew in the same namespaces, so the working directory and
/tmp (tmpfs mounts of the session's mount namespace) survive while every process is
replaced. An idle session is two processes: codeact-init and the worker.

Modules, by concern:
  channel   framing of the control channels and of the worker's stream
  capture   the ordered, capped output of a cell; sys.stdout/sys.stderr; the fd 1/2 pump
  runners   running a cell with IPython or with plain exec/eval; matplotlib figures
  files     file operations in the session's working directory
  sandbox   the session's root, mounts, limits, privileges and seccomp
  session   what the zygote warms for every session, and the session's main loop
  init      pid 1 of a session
  zygote    the zygote's request loop: forks sandbox builders and session starters

The engine ships these files inside its binary and loads them from memory (see
crates/exec/python/bootstrap.py): nothing of the package is read from disk, so sessions,
which fork from the zygote with every module imported, need no path to it in their root.
Everything here must therefore be imported by the zygote before it forks, and only the
standard library (and the session's optional IPython, numpy, pandas, matplotlib) may be used.
"""
