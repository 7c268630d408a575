"""GET /api/sources/{id}/stats from counters kept as contacts change (issue 11).

The stats no longer count a source's contacts: sql/0008_source_counts.sql keeps, per (source,
operator), the contacts with that operator and, per source, the waiting ones, changed by triggers
in the same transactions as the contacts. These tests hold the counters to a recount from the
contacts after concurrent load: intakes into sources sharing small operators, while other threads
close, reopen, reassign and unassign contacts and change limits (each of which drains queues),
and the drainer runs. Nothing here measures time (tests/bench/cost does).
"""
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import drains_idle, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

CLIENTS = 16
CONTACTS = 600


def recount(db_rows, source_id):
    """waiting, assigned_total and {operator_id: assigned} of a source, counted from contacts."""
    waiting, total = db_rows(
        "SELECT count(*) FILTER (WHERE operator_id IS NULL AND status = 'active'),"
        " count(*) FILTER (WHERE operator_id IS NOT NULL) FROM contacts WHERE source_id = %s", (source_id,))[0]
    per_op = dict(db_rows(
        "SELECT operator_id, count(*) FROM contacts WHERE source_id = %s AND operator_id IS NOT NULL"
        " GROUP BY operator_id", (source_id,)))
    return waiting, total, per_op


def counters_off(db_rows):
    """Counter rows of any source that differ from a recount of all contacts (empty when exact)."""
    return db_rows(
        "SELECT 'assigned', r.source_id, r.operator_id, r.n, k.assigned"
        "  FROM (SELECT source_id, operator_id, count(*) AS n FROM contacts WHERE operator_id IS NOT NULL"
        "         GROUP BY 1, 2) r"
        "  FULL JOIN (SELECT * FROM source_operator_counts WHERE assigned <> 0) k USING (source_id, operator_id)"
        " WHERE r.n IS DISTINCT FROM k.assigned"
        " UNION ALL "
        "SELECT 'waiting', r.source_id, NULL, r.n, w.waiting"
        "  FROM (SELECT source_id, count(*) AS n FROM contacts WHERE operator_id IS NULL AND status = 'active'"
        "         GROUP BY 1) r"
        "  FULL JOIN (SELECT source_id, sum(waiting) AS waiting FROM source_waiting GROUP BY 1"
        "             HAVING sum(waiting) <> 0) w USING (source_id)"
        " WHERE r.n IS DISTINCT FROM w.waiting")


@pytest.mark.load
def test_stats_equal_a_recount_after_concurrent_load(per_thread, db_rows):
    tag = uuid.uuid4().hex[:8]
    rng = random.Random()

    ops = [per_thread.operator(f"cs-{tag}-{i}", lim) for i, lim in enumerate((2, 3, 5, 4))]
    # two sources sharing operators 1 and 2
    sources = [per_thread.source(f"cs-{tag}-src-{j}", {o: rng.randint(1, 5) for o in (ops[0:3] if j == 0 else ops[1:])})
               for j in range(2)]

    made = []  # contact ids answered 201
    made_lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def client(n):
        r = per_thread.post("/api/contacts", {"email": f"cs-{tag}-{n}@load.test", "source_id": sources[n % 2]})
        if r.status_code != 201:
            errors.append(("POST", r.status_code, r.text))
            return
        with made_lock:
            made.append(r.json()["id"])

    def churn():
        """Closes, reopens, reassigns and unassigns random contacts, and moves limits."""
        try:
            while not stop.is_set():
                with made_lock:
                    if not made:
                        continue
                    cid = rng.choice(made)
                kind = rng.randrange(5)
                if kind == 0:
                    body = {"status": "closed"}
                elif kind == 1:
                    body = {"status": "active"}
                elif kind == 2:
                    body = {"operator_id": rng.choice(ops)}
                elif kind == 3:
                    body = {"operator_id": None}
                else:
                    r = per_thread.patch(f"/api/operators/{rng.choice(ops)}", {"max_load_limit": rng.randint(1, 6)})
                    if r.status_code != 200:
                        errors.append(("PATCH operator", r.status_code, r.text))
                    continue
                r = per_thread.patch(f"/api/contacts/{cid}", body)
                if r.status_code not in (200, 409):  # 409: a refused hand-pick or reopen (full, not configured)
                    errors.append(("PATCH contact", body, r.status_code, r.text))
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    churners = [threading.Thread(target=churn) for _ in range(3)]
    for t in churners:
        t.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as ex:
            list(ex.map(client, range(CONTACTS)))
    finally:
        stop.set()
        for t in churners:
            t.join()
    assert not errors, errors[:5]
    assert len(made) == CONTACTS

    # give every operator room, so that the drains (the requests' own and the drainer's) run too
    for o in ops:
        assert per_thread.patch(f"/api/operators/{o}", {"max_load_limit": 1000}).status_code == 200
    # Idle alone is not enough: the drainer may not have woken yet. Every operator has room, so the
    # end state is an empty queue with no drain running; only then must the stats stand still.
    wait_until(lambda: all(recount(db_rows, s)[0] == 0 for s in sources) and drains_idle(db_rows), 30,
               "the queues to drain")

    for s in sources:
        r = per_thread.client().get(f"/api/sources/{s}/stats")
        assert r.status_code == 200, r.text
        st = r.json()
        waiting, total, per_op = recount(db_rows, s)
        assert (st["waiting"], st["assigned_total"]) == (waiting, total), (st, waiting, total)
        assert {o["operator_id"]: o["assigned"] for o in st["operators"]} == \
            {o["operator_id"]: per_op.get(o["operator_id"], 0) for o in st["operators"]}, (st, per_op)
        assert total > 0
    assert counters_off(db_rows) == []


def test_counters_follow_every_kind_of_change(api, assert_json, make_source, make_operator, db_rows):
    """One of each: assigned and unassigned intake, close, reopen, reassign, unassign, a backlog
    drain, a contact deleted; after each step the source's counters equal the recount."""
    src = make_source()
    a = make_operator(max_load_limit=1)
    b = make_operator(max_load_limit=5)
    assert_json(api.post(f"/api/sources/{src['id']}/operators",
                         json={"operators": [{"operator_id": a["id"], "weight": 1}]}), 200)

    def check(step):
        st = assert_json(api.get(f"/api/sources/{src['id']}/stats"), 200)
        waiting, total, per_op = recount(db_rows, src["id"])
        got = (st["waiting"], st["assigned_total"], {o["operator_id"]: o["assigned"] for o in st["operators"]})
        want = (waiting, total, {o["operator_id"]: per_op.get(o["operator_id"], 0) for o in st["operators"]})
        assert got == want, step

    def post_one():
        return assert_json(api.post("/api/contacts", json={"email": f"cc-{uuid.uuid4().hex}@x.test",
                                                         "source_id": src["id"]}), 201)

    c1 = post_one()
    assert c1["operator_id"] == a["id"]
    check("assigned intake")
    c2 = post_one()
    assert c2["operator_id"] is None
    check("unassigned intake (a full)")
    assert_json(api.patch(f"/api/contacts/{c1['id']}", json={"status": "closed"}), 200)  # c2 drained to a
    check("close, then the queue drained")
    assert_json(api.patch(f"/api/contacts/{c2['id']}", json={"operator_id": None}), 200)
    check("unassign (waits again, a has room: drained back)")
    assert_json(api.post(f"/api/sources/{src['id']}/operators", json={"operators": [
        {"operator_id": a["id"], "weight": 1}, {"operator_id": b["id"], "weight": 1}]}), 200)
    c3 = post_one()
    check("third intake")
    cur = assert_json(api.get(f"/api/contacts/{c3['id']}"), 200)
    if cur["operator_id"] != b["id"]:
        assert_json(api.patch(f"/api/contacts/{c3['id']}", json={"operator_id": b["id"]}), 200)
    check("reassign")
    r = api.patch(f"/api/contacts/{c1['id']}", json={"status": "active"})
    assert r.status_code in (200, 409), r.text  # 409: a is full again (c2 went back to it)
    check("reopen (or its refusal)")
    assert counters_off(db_rows) == []
