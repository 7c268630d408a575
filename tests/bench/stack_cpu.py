#!/usr/bin/python3
"""stack_cpu.py -- CPU time used so far by a stack's process trees, in seconds.

Usage: stack_cpu.py PIDFILE...   (PostgreSQL's postmaster.pid, crm.pid, nginx.pid)

Prints the sum over each pid file's process and all its descendants of user + system time, plus
the time of the children they already reaped (cutime, cstime: a backend or worker that exited).
Two readings around a run, divided by the requests it served, give the stack's CPU per request:
on a shared machine this moves much less with other load than requests per second does (it
still grows somewhat with contention: caches, context switches). The load generator is not
in these trees.
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(ppid, cpu ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based from state
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def main():
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(int(name))
            if st is not None:
                procs[int(name)] = st
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    roots = []
    for path in sys.argv[1:]:
        with open(path) as f:
            roots.append(int(f.readline().strip()))
    total, seen, todo = 0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid][1]
        todo.extend(children.get(pid, []))
    print(f"{total / TICK:.2f}")


if __name__ == "__main__":
    main()
