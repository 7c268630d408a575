"""ha.py -- clients that retry with an Idempotency-Key while the database primary is lost.

Run by tests/ha/run, which builds the pg_auto_failover formation, starts the service on it and
passes HA_* variables. HA_CLIENTS (16) clients post contacts at full speed, each with a fresh
email and its own key, and retry the same request with the same key on a 5xx, a 409 (the first
attempt still runs), a timeout or a broken connection, until it is answered 201. Meanwhile:

  failover      SIGKILL the primary's postmaster; the monitor promotes the synchronous standby;
                the workers and the drainer reconnect to it (multi-host connection string with
                target_session_attrs=read-write), without a restart of the service
  backlog       after the failover, waiting contacts freed by a PATCH are assigned by the drainer,
                woken by its NOTIFY (its LISTEN re-established), long before its 60 s sweep
  standby lost  the standby (the old primary, rejoined) is stopped for 10 s: the primary must
                keep accepting writes (pg_auto_failover drops synchronous replication meanwhile)

Then, on the new primary: every email answered 201 is stored exactly once with the id its 201
named, nothing else; no operator past its limit; operators.active_contacts, source_operator_counts
and the source_waiting shards (migration 0008) equal a recount; one intake entry per contact;
the workers and the drainer are the processes of before. Prints the failover time, the failed
answers by status and the throughput before and after.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from clients import api_session, check, post_until_answered, summary  # noqa: E402 (after the path is set)

URL = os.environ["HA_URL"]
DSN = os.environ["HA_DSN"]
MONITOR_DSN = os.environ["HA_MONITOR_DSN"]
PIDFILE = os.environ["HA_PIDFILE"]
HA_DIR = os.environ["HA_DIR"]
KEY = os.environ["HA_KEY"]
CLIENTS = int(os.environ.get("HA_CLIENTS", "16"))
HERE = os.path.dirname(os.path.abspath(__file__))
TAG = uuid.uuid4().hex[:8]
OPERATORS, LIMIT, SOURCES = 6, 5000, 3

lock = threading.Lock()
stop = threading.Event()
events = []  # (time answered, status or None for a timeout / broken connection)
posted = {}  # email -> contact id of its 201
counts = {"requests": 0, "retries": 0, "replayed": 0, "other": 0}
replayed = set()  # emails whose 201 was a replay
bad_503 = []  # 503 answers that are not problem+json with Retry-After
timeline = []  # (time, monitor state line) whenever it changes


def new_session():
    return api_session(KEY)


def formation(fn, *args):
    """Runs a function of formation.sh (ha_stop_node, ha_start_node)."""
    subprocess.run(["bash", "-c", f'. "{HERE}/formation.sh"; "$@"', "formation", fn, *args], check=True,
                   stdout=subprocess.DEVNULL)


def monitor_state():
    """[(name, port, reported, goal)] of the data nodes."""
    try:
        with psycopg2.connect(MONITOR_DSN, connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("SELECT nodename, nodeport, reportedstate::text, goalstate::text FROM pgautofailover.node"
                        " ORDER BY nodeid")
            rows = cur.fetchall()
        conn.close()
        return rows
    except psycopg2.Error:
        return []


def watch_monitor():
    last = None
    while not stop.is_set():
        line = "; ".join(f"{n} {r}/{g}" for n, _, r, g in monitor_state())
        if line and line != last:
            timeline.append((time.monotonic(), line))
            last = line
        time.sleep(0.2)


def node_in(state):
    """(name, port) of the node whose reported and goal states are both `state`, or None."""
    for name, port, reported, goal in monitor_state():
        if reported == state and goal == state:
            return name, port
    return None


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit(f"not within {timeout} s: {what}\n" + "\n".join(l for _, l in timeline[-5:]))


def setup(s):
    ops = [s.post(URL + "/api/operators", json={"name": f"ha-op-{TAG}-{i}", "max_load_limit": LIMIT},
                  timeout=10).json()["id"] for i in range(OPERATORS)]
    srcs = []
    for i in range(SOURCES):
        src = s.post(URL + "/api/sources", json={"name": f"ha-src-{TAG}-{i}"}, timeout=10).json()["id"]
        cfg = {"operators": [{"operator_id": o, "weight": 1 + (i + j) % 5} for j, o in enumerate(ops)]}
        assert s.post(URL + f"/api/sources/{src}/operators", json=cfg, timeout=10).status_code == 200
        srcs.append(src)
    return ops, srcs


def record(email):
    """The bookkeeping of one contact's answers (clients.post_until_answered's record)."""

    def rec(status, r, first):
        with lock:
            counts["requests"] += 1
            counts["retries"] += 0 if first else 1
            events.append((time.monotonic(), status))
            if status == 503 and not (r.headers.get("Content-Type", "").startswith("application/problem+json")
                                      and r.headers.get("Retry-After")):
                bad_503.append((dict(r.headers), r.text[:200]))
            if status == 201 and r.headers.get("Idempotent-Replayed") == "true":
                counts["replayed"] += 1
                replayed.add(email)
            if status is not None and status < 500 and status not in (201, 409):
                counts["other"] += 1
                print(f"unexpected {status}: {r.text[:200]}", flush=True)

    return rec


def client(n, srcs):
    s = new_session()
    i = 0
    while not stop.is_set():
        i += 1
        email = f"ha-{TAG}-{n}-{i}@ha.test"
        s, r = post_until_answered(s, new_session, URL, {"email": email, "source_id": srcs[i % len(srcs)]},
                                   f"{TAG}-{n}-{i}", record(email))
        if r is not None and r.status_code == 201:
            with lock:
                posted[email] = r.json()["id"]
    s.close()


def children():
    master = int(open(PIDFILE).read().strip())
    return sorted(int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                                  text=True).stdout.split())


def oks_between(t0, t1):
    with lock:
        return sum(1 for t, st in events if t0 <= t < t1 and st == 201)


def failures_between(t0, t1):
    with lock:
        return [(t, st) for t, st in events if t0 <= t < t1 and st != 201]


def describe_failures(fails):
    by = {}
    for _, st in fails:
        k = "timeout/broken" if st is None else str(st)
        by[k] = by.get(k, 0) + 1
    return ", ".join(f"{v} x {k}" for k, v in sorted(by.items())) or "none"


def recovered_after(t_fault, t_end):
    """Seconds from the fault to the first 201 after the last failed answer (before t_end)."""
    fails = failures_between(t_fault, t_end)
    t_last = fails[-1][0] if fails else t_fault
    with lock:
        oks = [t for t, st in events if t_last <= t < t_end and st == 201]
    return (oks[0] - t_fault) if oks else None, fails


def backlog_check(s):
    """Waiting contacts freed by raising a limit are assigned within seconds: the request drains
    CRM_DRAIN_BATCH (16) itself and NOTIFYs the drainer for the rest."""
    op = s.post(URL + "/api/operators", json={"name": f"ha-drain-op-{TAG}", "max_load_limit": 0}, timeout=10).json()
    src = s.post(URL + "/api/sources", json={"name": f"ha-drain-src-{TAG}"}, timeout=10).json()
    r = s.post(URL + f"/api/sources/{src['id']}/operators",
               json={"operators": [{"operator_id": op["id"], "weight": 1}]}, timeout=10)
    assert r.status_code == 200, r.text
    for i in range(80):
        email = f"ha-drain-{TAG}-{i}@ha.test"
        s, r = post_until_answered(s, new_session, URL, {"email": email, "source_id": src["id"]}, f"{TAG}-d-{i}",
                                   record(email))
    t0 = time.monotonic()
    r = s.patch(URL + f"/api/operators/{op['id']}", json={"max_load_limit": 1000}, timeout=10)
    assert r.status_code == 200, r.text

    def waiting():
        r = s.get(URL + f"/api/sources/{src['id']}/stats", timeout=10)
        return r.json().get("waiting") if r.status_code == 200 else None

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and waiting() != 0:
        time.sleep(0.1)
    left = waiting()
    check(left == 0, f"after the failover the drainer is woken by NOTIFY: 80 waiting contacts assigned in"
                     f" {time.monotonic() - t0:.2f} s (left: {left}; the sweep would take 60 s)")


def fetch_all(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall()


def verify(ops):
    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_is_in_recovery(), current_setting('port')")
    recovery, port = cur.fetchone()
    check(not recovery, f"checks run on the primary (port {port})")
    stored = {}
    for email, cid in fetch_all(cur, "SELECT l.email, c.id FROM contacts c JOIN leads l ON l.id = c.lead_id"
                                     " WHERE l.email LIKE %s", (f"ha-{TAG}-%",)):
        stored.setdefault(email, []).append(cid)
    lost = [e for e in posted if e not in stored]
    doubled = [e for e, ids in stored.items() if len(ids) > 1]
    unknown = [e for e in stored if e not in posted]
    check(counts["other"] == 0, "no answer other than 201, 409, 5xx or a timeout")
    check(not bad_503, f"every 503 is problem+json with Retry-After ({len(bad_503)} others: {bad_503[:1]})")
    check(not lost, f"every contact answered 201 is stored: {len(posted)} answered, {len(lost)} missing {lost[:3]}"
                    f" ({sum(1 for e in lost if e in replayed)} of them answered by a replay)")
    check(not doubled, f"none stored twice: {len(doubled)} {doubled[:3]}")
    check(not unknown, f"nothing stored that was not answered 201: {len(unknown)} {unknown[:3]}")
    check(all(stored[e] == [posted[e]] for e in posted if e in stored), "every 201 named the stored contact")
    over = fetch_all(cur, "SELECT id FROM operators WHERE active_contacts > max_load_limit")
    check(not over, f"no operator past its limit {over[:3]}")
    bad = fetch_all(cur, """
        SELECT o.id, o.active_contacts, r.n
          FROM operators o
          LEFT JOIN (SELECT operator_id, count(*) AS n FROM contacts WHERE status = 'active' GROUP BY 1) r
            ON r.operator_id = o.id
         WHERE o.active_contacts <> coalesce(r.n, 0)""")
    check(not bad, f"operators.active_contacts equal a recount {bad[:3]}")
    bad = fetch_all(cur, """
        SELECT coalesce(k.source_id, r.source_id), coalesce(k.operator_id, r.operator_id), k.assigned, r.n
          FROM source_operator_counts k
          FULL JOIN (SELECT source_id, operator_id, count(*) AS n FROM contacts WHERE operator_id IS NOT NULL
                      GROUP BY 1, 2) r ON r.source_id = k.source_id AND r.operator_id = k.operator_id
         WHERE coalesce(k.assigned, 0) <> coalesce(r.n, 0)""")
    check(not bad, f"source_operator_counts equal a recount {bad[:3]}")
    bad = fetch_all(cur, """
        SELECT coalesce(k.source_id, r.source_id), coalesce(k.shard, r.shard), k.waiting, r.n
          FROM source_waiting k
          FULL JOIN (SELECT source_id, (id % 16)::smallint AS shard, count(*) AS n FROM contacts
                      WHERE operator_id IS NULL AND status = 'active' GROUP BY 1, 2) r
            ON r.source_id = k.source_id AND r.shard = k.shard
         WHERE coalesce(k.waiting, 0) <> coalesce(r.n, 0)""")
    check(not bad, f"the source_waiting shards equal a recount {bad[:3]}")
    n = fetch_all(cur, "SELECT count(*) FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email LIKE %s AND"
                       " (SELECT count(*) FROM assignment_history a WHERE a.contact_id = c.id AND a.reason = 'intake') <> 1",
                  (f"ha-{TAG}-%",))[0][0]
    check(n == 0, f"one intake entry in the history per contact ({n} others)")
    total = fetch_all(cur, "SELECT count(*) FROM contacts")[0][0]
    conn.close()
    return total


def main():
    s = new_session()
    ops, srcs = setup(s)
    primary = node_in("primary")
    check(primary is not None, f"the formation has a primary: {primary}")
    procs_before = children()
    watcher = threading.Thread(target=watch_monitor)
    watcher.start()
    threads = [threading.Thread(target=client, args=(n, srcs)) for n in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(10)

    # 1. failover: SIGKILL the primary's postmaster
    name, port = primary
    pm = int(open(os.path.join(HA_DIR, name, "postmaster.pid")).readline())
    t_kill = time.monotonic()
    os.kill(pm, signal.SIGKILL)
    new_primary = wait_for(lambda: (p := node_in("primary")) and p[0] != name and p, 120, "a new primary")
    t_promoted = time.monotonic()
    t_writable = next((t for t, line in timeline if t > t_kill and (
        f"{new_primary[0]} wait_primary/" in line or f"{new_primary[0]} primary/" in line)), t_promoted)
    time.sleep(15)
    t_after = time.monotonic()
    recovered, fails = recovered_after(t_kill, t_after)
    before = oks_between(t_kill - 8, t_kill) / 8
    after = oks_between(t_after - 8, t_after) / 8
    print(f"\nfailover: postmaster of {name} (port {port}) SIGKILLed; monitor: {new_primary[0]} promoted (wait_primary,"
          f" writable) after {t_writable - t_kill:.2f} s, primary with its standby back after"
          f" {t_promoted - t_kill:.2f} s; first 201 after the last failed answer at"
          f" {'-' if recovered is None else f'{recovered:.2f} s'}; failed answers: {describe_failures(fails)};"
          f" throughput {before:.0f} -> {after:.0f} contacts/s (8 s before the kill, 8 s ending 15 s after the"
          f" promotion)", flush=True)
    check(recovered is not None and after > 0, "writes resumed on the new primary")

    # 2. the drainer's LISTEN on the new primary
    backlog_check(s)

    # 3. the standby (the old primary, rejoined) lost for 10 s: writes must go on
    standby = wait_for(lambda: node_in("secondary"), 120, "the old primary back as a secondary")
    time.sleep(2)
    t_sb = time.monotonic()
    formation("ha_stop_node", standby[0])
    time.sleep(10)
    formation("ha_start_node", standby[0])
    t_sb_back = time.monotonic()
    during = oks_between(t_sb + 5, t_sb_back)
    recovered_sb, fails_sb = recovered_after(t_sb, t_sb_back)
    with lock:
        oks = [t for t, st in events if t_sb <= t < t_sb_back and st == 201]
    gaps = [b - a for a, b in zip([t_sb] + oks, oks)]
    print(f"standby {standby[0]} stopped for 10 s: {during} contacts answered 201 in its last 5 s; longest wait"
          f" between two 201s {max(gaps) if gaps else float('nan'):.2f} s; failed answers:"
          f" {describe_failures(fails_sb)}", flush=True)
    check(during > 0, "with the standby gone the primary still accepts writes")
    wait_for(lambda: node_in("secondary"), 180, "the standby back as a secondary")
    time.sleep(3)

    stop.set()
    for t in threads:
        t.join(timeout=120)
    watcher.join()
    elapsed = time.monotonic() - t0
    check(not any(t.is_alive() for t in threads), "every client finished with a 201 for its last contact")
    procs_after = children()
    check(procs_after == procs_before, f"the workers and the drainer are the processes of before: no restart"
                                       f" ({len(procs_before)} processes)")
    print(f"\n{CLIENTS} clients, {elapsed:.0f} s: {len(posted)} contacts answered 201; {counts['requests']} requests,"
          f" {counts['retries']} retries, {counts['replayed']} answers replayed (Idempotent-Replayed)")
    print("monitor states:")
    for t, line in timeline:
        print(f"  {t - t_kill:+7.2f} s  {line}")
    total = verify(ops)
    print(f"({total} contacts in the database)")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
