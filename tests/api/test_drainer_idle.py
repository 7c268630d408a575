"""The drainer sleeps when nothing is due (README "Backlog"): it waits for a NOTIFY, the next shift
change or accept deadline, or the sweep. It once spun instead: with no schedule and no deadline
pending, the time until "the next one" came back as 0 (greatest(NULL, 0) is 0 in SQL), and the
drainer asked the database again at once, for ever, burning a core between them."""
import os
import time

from helpers import child_pids, master_pid, require_env

require_env("CRM_TEST_PIDFILE")


def drainer_pid():
    for pid in child_pids(master_pid()):
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "crm-drainer":
                return pid
    raise AssertionError("the master has no drainer")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_an_idle_drainer_uses_no_cpu():
    pid = drainer_pid()
    time.sleep(1.0)  # let a pass that a previous test started finish
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(3.0)
    used, spent = cpu_seconds(pid) - before, time.monotonic() - t0
    # a drainer that waits uses next to nothing; the spinning one used 15-20 % of a core
    assert used < 0.15, f"the drainer used {used:.2f} s of CPU in {spent:.1f} s with nothing to do"
