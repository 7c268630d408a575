"""Several hosts on one database: more masters, more drainers, one queue.

Production runs `crm serve` on several hosts against one PostgreSQL; every master has its own
backlog drainer. This test starts two more masters beside the test stack's (as two more hosts
would: their own socket, no migrations, a one-second sweep), fills a queue of waiting contacts,
then raises the limits of its six operators at once: the requests' own batches, the three
drainers woken by their NOTIFYs and their sweeps all compete for the same queue, each holding a
different operator. No contact may be assigned
twice, the stored load must stay exact, and the queue must drain completely.
"""
import os
import signal
import subprocess
import tempfile
import threading

import pytest
from helpers import auth_headers, check_json, configure, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN")
APP_DSN = os.environ.get("CRM_TEST_APP_DSN")
CRM_BIN = os.environ.get("CRM_BIN")

WAITING = 600


def start_master(tmp, n):
    env = dict(os.environ)
    env.update({
        # the host's sessions are named crm-host<n> in pg_stat_activity
        "CRM_DATABASE_URL": f"{APP_DSN} application_name=crm-host{n}",
        "CRM_LISTEN": f"unix:{tmp}/host{n}.sock",
        "CRM_WORKERS": "1",
        "CRM_AUTO_MIGRATE": "off",
        "CRM_SWEEP_SECONDS": "1",
        "CRM_LOG_LEVEL": "info",
    })
    log = open(f"{tmp}/host{n}.log", "w")
    return subprocess.Popen([CRM_BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True), log


def drainers_listening(db, hosts):
    """True once the drainer of every host has LISTENed and walked the backlog (its session is
    idle after crm_drain_next, which the drainer runs only after LISTEN crm_backlog)."""
    with db.cursor() as cur:
        cur.execute("SELECT count(DISTINCT application_name) FROM pg_stat_activity"
                    " WHERE application_name = ANY(%s) AND state = 'idle' AND query LIKE '%%crm_drain_next%%'",
                    ([f"crm-host{n}" for n in hosts],))
        return cur.fetchone()[0] == len(hosts)


@pytest.mark.slow
def test_drainers_of_several_hosts_never_assign_a_contact_twice(api, db, make_operator, make_source, base_url):
    import requests

    src = make_source()
    ops = [make_operator(max_load_limit=0)["id"] for _ in range(6)]
    configure(api, check_json, src["id"], [(o, 1) for o in ops])
    ids = []
    for i in range(WAITING):
        r = api.post("/api/contacts", json={"email": f"hosts-{src['id']}-{i}@load.test", "source_id": src["id"]})
        assert r.status_code == 201, r.text
        assert r.json()["operator_id"] is None
        ids.append(r.json()["id"])

    with tempfile.TemporaryDirectory() as tmp:
        hosts = [start_master(tmp, n) for n in (1, 2)]
        try:
            listening = wait_until(lambda: drainers_listening(db, (1, 2)), 10)
            for n, (proc, _) in enumerate(hosts, 1):
                with open(f"{tmp}/host{n}.log") as f:
                    assert proc.poll() is None, f.read()
            assert listening, "the extra hosts' drainers did not start listening within 10 s"
            statuses = []

            def raise_limit(o):
                r = requests.patch(f"{base_url}/api/operators/{o}", json={"max_load_limit": 5000}, timeout=30,
                                   headers=auth_headers())
                statuses.append(r.status_code)

            threads = [threading.Thread(target=raise_limit, args=(o,)) for o in ops]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert statuses == [200] * len(ops), statuses

            cur = db.cursor()

            def waiting():
                cur.execute("SELECT count(*) FROM contacts WHERE id = ANY(%s) AND operator_id IS NULL", (ids,))
                return cur.fetchone()[0]

            assert wait_until(lambda: waiting() == 0, 15, interval=0.1), f"{waiting()} contacts still waiting"
        finally:
            for proc, log in hosts:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
                log.close()

    cur.execute(
        """SELECT a.contact_id, count(*) FROM assignments a
            WHERE a.contact_id = ANY(%s) AND a.reason = 'backlog' GROUP BY a.contact_id""",
        (ids,),
    )
    per_contact = dict(cur.fetchall())
    assert len(per_contact) == WAITING, f"{WAITING - len(per_contact)} contacts without a backlog entry"
    twice = {c: n for c, n in per_contact.items() if n != 1}
    assert not twice, f"contacts assigned more than once by the backlog: {list(twice.items())[:10]}"
    cur.execute(
        """SELECT o.id, o.active_contacts, (SELECT count(*) FROM contacts c WHERE c.operator_id = o.id
                                             AND c.status = 'active') FROM operators o WHERE o.id = ANY(%s)""",
        (ops,),
    )
    rows = cur.fetchall()
    drift = [r for r in rows if r[1] != r[2]]
    assert not drift, f"stored load differs from the real count (id, stored, real): {drift}"
    assert sum(r[2] for r in rows) == WAITING
    cur.execute(
        """SELECT count(*) FROM assignments WHERE contact_id = ANY(%s) AND reason = 'backlog'
              AND (load_before IS NULL OR load_before >= load_limit)""",
        (ids,),
    )
    assert cur.fetchone()[0] == 0
