"""codeact's session worker: the zygote, the sandbox holder and the cell runner of the local
backend, run by the engine with the session Python.

Process tree of one session (local backend, sandbox on):
  server --ctl--> zygote (imports preloaded, shell warmed, gc frozen; subreaper; keeps the
                          table session -> holder pid)
    fork -> builder (once, before the zygote imports what sessions need: small)
    clone -> holder (by the builder with CLONE_PARENT, so a child of the zygote; once per
                     session, into new user, mount, net, ipc, uts and pid
                     namespaces, then put in the session's cgroups and given its user ids by
                     the zygote; pid 1 of the session; builds its root and enters it, drops
                     privileges, installs seccomp, then execs codeact-init, which reaps; it
                     keeps the namespaces alive until the session closes)
    fork -> first process in the session (per start: forked into the holder's pid
                     namespace; opens the session's cgroups, joins the holder's other
                     namespaces, takes the session's uid, kills all of the session but pid 1,
                     joins the cgroups, forks, exits)
      fork -> worker (reparented to the holder; confines itself, runs cells, speaks
                      length-prefixed JSON on its own socket)
A restart is a new start: the worker and all it started are killed, the holder stays, so the
working directory and /tmp (tmpfs mounts of the session's mount namespace) survive. Closing
kills the holder and so the whole pid namespace. An idle session is two processes,
codeact-init and the worker, and one descriptor of the server's (the worker's socket).
With the sandbox off, the worker is the zygote's child, and there is no holder.

Modules, by concern:
  channel   framing of the control channels and of the worker's stream
  capture   the ordered, capped output of a cell; sys.stdout/sys.stderr; the fd 1/2 pump
  runners   running a cell with IPython or with plain exec/eval; matplotlib figures
  files     file operations in the session's working directory
  sandbox   the session's root, mounts, limits, privileges and seccomp
  session   what the zygote warms for every session, and the session's main loop
  init      a session's holder (its pid 1) and its worker process
  builder   the small process sessions' holders are cloned from
  zygote    the zygote's request loop: builds sandboxes, starts workers, closes sessions

The engine ships these files inside its binary and loads them from memory (see
crates/exec/python/bootstrap.py): nothing of the package is read from disk, so sessions,
which fork from the zygote with every module imported, need no path to it in their root.
Everything here must therefore be imported by the zygote before it forks, and only the
standard library (and the session's optional IPython, numpy, pandas, matplotlib) may be used.
"""
