"""faults.py -- clients that retry with an Idempotency-Key, against a stack that keeps failing.

Run by tests/faults/run, which starts the stack and passes it in FAULTS_* variables. Clients
(FAULTS_CLIENTS, 16) post contacts at full speed, each with a fresh email and its own key, and
retry the same request with the same key on a 5xx, a 409 (the first attempt still runs), a
timeout or a broken connection, until it gets its 201. Meanwhile the fault schedule:

  phase "workers"   SIGKILL two workers (of the master's children, not the drainer), 4 times
  phase "crash"     pg_ctl -m immediate restart (a crash: no checkpoint, recovery at start)
  phase "workers"   SIGKILL again, while the workers reconnect
  phase "stop"      pg_ctl stop -m fast, 10 s down, start

Then, through the database: every email posted is stored exactly once with the id its 201 named
(none lost, none doubled), no operator is past its limit, every operator's active_contacts
equals its real count, and every contact has exactly one intake entry in the history. For each
database fault it reports the 503 window (first failed answer to last failed answer) and the
recovery time (fault injected to the first 201 of a request sent after the database was back).
"""
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
from clients import api_session, check, post_until_answered, summary

URL = os.environ["FAULTS_URL"]
DSN = os.environ["FAULTS_DSN"]
PIDFILE = os.environ["FAULTS_PIDFILE"]
PG_DATA = os.environ["FAULTS_PG_DATA"]
PG_CTL = os.environ["FAULTS_PG_CTL"]
PG_LOG = os.environ["FAULTS_PG_LOG"]
KEY = os.environ["FAULTS_KEY"]  # the stack's admin API key (.local/faults/api-key)
CLIENTS = int(os.environ.get("FAULTS_CLIENTS", "16"))
TAG = uuid.uuid4().hex[:8]
OPERATORS, LIMIT, SOURCES = 6, 300, 3

lock = threading.Lock()
stop = threading.Event()
events = []  # (time, kind, status) of every answer: kind "ok" / "fail"
posted = {}  # email -> contact id of its 201
counts = {"requests": 0, "retries": 0, "5xx": 0, "409": 0, "errors": 0, "replayed": 0, "other": 0}


def new_session():
    return api_session(KEY)


def pg_ctl(*args):
    subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", PG_DATA, "-l", PG_LOG, *args],
                   check=True, stdout=subprocess.DEVNULL)


def setup():
    s = new_session()
    ops = [s.post(URL + "/api/operators", json={"name": f"fault-op-{TAG}-{i}", "max_load_limit": LIMIT},
                  timeout=10).json()["id"] for i in range(OPERATORS)]
    srcs = []
    for i in range(SOURCES):
        src = s.post(URL + "/api/sources", json={"name": f"fault-src-{TAG}-{i}"}, timeout=10).json()["id"]
        cfg = {"operators": [{"operator_id": o, "weight": 1 + (i + j) % 5} for j, o in enumerate(ops)]}
        assert s.post(URL + f"/api/sources/{src}/operators", json=cfg, timeout=10).status_code == 200
        srcs.append(src)
    s.close()
    return ops, srcs


def record(email):
    """The bookkeeping of one contact's answers (clients.post_until_answered's record)."""

    def rec(status, r, first):
        now = time.monotonic()
        with lock:
            counts["requests"] += 1
            counts["retries"] += 0 if first else 1
            events.append((now, "ok" if status == 201 else "fail", status))
            if status == 201:
                if r.headers.get("Idempotent-Replayed") == "true":
                    counts["replayed"] += 1
                posted[email] = r.json()["id"]
            elif status is None:
                counts["errors"] += 1
            elif status >= 500:
                counts["5xx"] += 1
            elif status == 409:
                counts["409"] += 1
            else:
                counts["other"] += 1
                print(f"unexpected {status} for {email}: {r.text[:200]}", flush=True)

    return rec


def client(n, srcs):
    s = new_session()
    i = 0
    while not stop.is_set():  # the contact in flight is answered 201 even after stop is set
        i += 1
        email = f"fault-{TAG}-{n}-{i}@faults.test"
        s, _ = post_until_answered(s, new_session, URL, {"email": email, "source_id": srcs[i % len(srcs)]},
                                   f"{TAG}-{n}-{i}", record(email))
    s.close()


def workers():
    master = int(open(PIDFILE).read().strip())
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "drainer" not in line]


def kill_workers(k=2):
    for pid in workers()[:k]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def window(t_fault, t_back, t_end):
    """503 window: first to last failure between the fault and t_end (the next fault); recovery:
    fault to the first success of a request answered after the database was back."""
    with lock:
        after = [e for e in events if t_fault <= e[0] < t_end]
    fails = [e[0] for e in after if e[1] == "fail"]
    oks = [e[0] for e in after if e[1] == "ok" and e[0] >= t_back]
    first_fail = fails[0] - t_fault if fails else None
    last_fail = fails[-1] - t_fault if fails else None
    recovered = oks[0] - t_fault if oks else None
    return first_fail, last_fail, recovered, len(fails)


def fmt(v):
    return "-" if v is None else f"{v:.2f} s"


def main():
    ops, srcs = setup()
    threads = [threading.Thread(target=client, args=(n, srcs)) for n in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(4)
    for _ in range(4):
        kill_workers()
        time.sleep(1.5)
    time.sleep(3)

    t_crash = time.monotonic()
    pg_ctl("-m", "immediate", "-w", "-t", "60", "restart")
    t_crash_back = time.monotonic()
    time.sleep(8)
    t_crash_end = time.monotonic()
    for _ in range(3):
        kill_workers()
        time.sleep(1)
    time.sleep(3)

    t_stop = time.monotonic()
    pg_ctl("-m", "fast", "-w", "-t", "60", "stop")
    time.sleep(10)
    pg_ctl("-w", "-t", "60", "start")
    t_stop_back = time.monotonic()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - t0
    check(not any(t.is_alive() for t in threads), "every client finished with a 201 for its last contact")

    print(f"\n{CLIENTS} clients, {elapsed:.0f} s: {len(posted)} contacts answered 201; {counts['requests']} requests,"
          f" {counts['retries']} retries ({counts['5xx']} 5xx, {counts['409']} 409, {counts['errors']} timeouts or"
          f" broken connections), {counts['replayed']} answers replayed, {counts['other']} other statuses")
    t_end = time.monotonic()
    for name, tf, tb, te in (("crash-restart (pg_ctl -m immediate restart)", t_crash, t_crash_back, t_crash_end),
                             ("stop for 10 s", t_stop, t_stop_back, t_end)):
        ff, lf, rec, n = window(tf, tb, te)
        print(f"{name}: database back after {tb - tf:.2f} s; {n} failed answers, first at {fmt(ff)},"
              f" last at {fmt(lf)}; first 201 after it was back at {fmt(rec)}")
    print()

    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT l.email, c.id FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email LIKE %s",
                (f"fault-{TAG}-%",))
    stored = {}
    for email, cid in cur.fetchall():
        stored.setdefault(email, []).append(cid)
    doubled = [e for e, ids in stored.items() if len(ids) > 1]
    lost = [e for e in posted if e not in stored]
    unknown = [e for e in stored if e not in posted]
    check(counts["other"] == 0, "no answer other than 201, 409, 5xx or a timeout")
    check(not lost, f"no contact lost: {len(posted)} answered, {len(lost)} missing {lost[:3]}")
    check(not doubled, f"no contact doubled: {len(doubled)} emails stored more than once {doubled[:3]}")
    check(not unknown, f"nothing stored that was never answered 201: {len(unknown)} {unknown[:3]}")
    check(all(stored[e] == [posted[e]] for e in posted if e in stored),
          "every 201 (first or replayed) named the contact that is stored")
    cur.execute("SELECT count(*) FROM operators WHERE active_contacts > max_load_limit")
    check(cur.fetchone()[0] == 0, "no operator past its limit")
    cur.execute("SELECT o.id, o.active_contacts, (SELECT count(*) FROM contacts c WHERE c.operator_id = o.id"
                " AND c.status = 'active') FROM operators o WHERE o.id = ANY(%s)", (ops,))
    rows = cur.fetchall()
    check(all(a == b for _, a, b in rows), f"every counter equals its real count: {[(i, a, b) for i, a, b in rows]}")
    cur.execute("SELECT count(*) FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email LIKE %s AND"
                " (SELECT count(*) FROM assignment_history a WHERE a.contact_id = c.id AND a.reason = 'intake') <> 1",
                (f"fault-{TAG}-%",))
    check(cur.fetchone()[0] == 0, "one intake entry in the history per contact")
    # each contact holds its own request's key (the hash of the client's public id and the key
    # f"{TAG}-{n}-{i}", the middle of its email)
    cur.execute("SELECT count(*) FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email LIKE %s AND"
                " c.idem_hash = crm_idem_contact_key(%s, substring(l.email FROM '^fault-(.*)@faults\\.test$'))",
                (f"fault-{TAG}-%", KEY[4:20]))
    keys = cur.fetchone()[0]
    check(keys == len(posted), f"one stored answer per contact: {keys} keys for {len(posted)} contacts")
    check(counts["5xx"] + counts["errors"] > 0, "the faults were felt (some requests failed and were retried)")
    conn.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
