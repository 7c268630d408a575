"""SIGHUP replaces every worker while requests keep coming: not one of them fails (issue 12,
"Graceful everything"). The workers' socket stays open across the reload, so a request that
arrives while the old workers finish theirs waits in its backlog for a new one."""
import os
import signal
import time

import pytest
from helpers import child_pids, master_pid, posting, wait_until

CLIENTS = 8


def children(pid):
    return set(child_pids(pid))


@pytest.mark.load
def test_sighup_under_load_replaces_every_worker_and_fails_no_request(per_thread, make_source, make_operator):
    src = make_source()
    op = make_operator(max_load_limit=1000000)
    r = per_thread.post(f"/api/sources/{src['id']}/operators", {"operators": [{"operator_id": op["id"], "weight": 1}]})
    assert r.status_code == 200, r.text
    master = master_pid()
    before = children(master)
    with posting(per_thread, src["id"], "hup", CLIENTS) as codes:
        time.sleep(1.0)
        os.kill(master, signal.SIGHUP)
        # every worker of before is gone and as many new ones serve (the drainer is replaced too)
        wait_until(lambda: not (children(master) & before) and len(children(master)) == len(before), 20,
                   "the workers replaced")
        time.sleep(1.0)
        os.kill(master, signal.SIGHUP)  # a second reload right after the first
        time.sleep(1.5)
    bad = [c for c in codes if c[0] != 201]
    assert len(codes) > 100 and not bad, (len(codes), bad[:5])
    wait_until(lambda: len(children(master)) == len(before), 20, "the second reload done")


@pytest.mark.load
def test_rapid_sighups_under_load_fail_no_request(per_thread, make_source, make_operator):
    """Ten reloads 0.3 s apart while 8 clients post: a worker is told to stop at every moment of
    its loop, including just after its accept took a connection (which once died unanswered: a
    502 at nginx)."""
    src = make_source()
    op = make_operator(max_load_limit=1000000)
    r = per_thread.post(f"/api/sources/{src['id']}/operators", {"operators": [{"operator_id": op["id"], "weight": 1}]})
    assert r.status_code == 200, r.text
    master = master_pid()
    workers = len(children(master))
    with posting(per_thread, src["id"], "rapid", CLIENTS) as codes:
        time.sleep(0.5)
        for _ in range(10):
            os.kill(master, signal.SIGHUP)
            time.sleep(0.3)
        time.sleep(1.0)
    bad = [c for c in codes if c[0] != 201]
    assert len(codes) > 100 and not bad, (len(codes), len(bad), bad[:3])
    wait_until(lambda: len(children(master)) == workers, 20, "the reloads done")
