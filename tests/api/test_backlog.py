"""Backlog: waiting contacts (unassigned, status active) are assigned when capacity appears.

Triggers: a contact closed, a contact unassigned by hand ({"operator_id": null}), an operator
activated, an operator's limit raised, a source's weights configured. The request that made the
change assigns the affected sources' waiting contacts itself, oldest first, by the weighted rule,
up to a batch of CRM_DRAIN_BATCH (16) before it answers; a background drainer (woken by NOTIFY at
commit, plus a safety sweep every 10 s) assigns the rest.

Every scenario uses fresh operators and sources, so other tests' data does not interfere.
"""

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest
import requests
from helpers import (HUGE, keyed_session, assert_loads, binomial_interval, configure, drains_idle, new_email,
                     operators_of, pooled_posts, post, require_env, set_operator, simultaneous,
                     wait_until, waiting_ids)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

BATCH = int(os.environ.get("CRM_DRAIN_BATCH", "16"))  # the server's default
DRAIN_SECONDS = 10.0  # the whole queue must be gone this long after the trigger's answer
SWEEP_SECONDS = 10.0  # the drainer's safety sweep (default CRM_SWEEP_SECONDS)


# ---------------------------------------------------------------- local helpers


def post_waiting(base_url, source_id, n, threads=8):
    """n contacts posted to a source where nobody is eligible; returns their ids, sorted."""
    ids = []
    for resp in pooled_posts(base_url, source_id, n, threads, tag="q"):
        assert resp.status_code == 201, resp.text[:300]
        body = resp.json()
        assert body["operator_id"] is None, body
        ids.append(body["id"])
    return sorted(ids)


def close(api, assert_json, cid):
    body = assert_json(api.patch(f"/api/contacts/{cid}", json={"status": "closed"}), 200)
    assert body["status"] == "closed", body
    return body


def api_waiting(api, assert_json, source_id):
    body = assert_json(api.get("/api/contacts", params={
        "source_id": source_id, "unassigned": "true", "status": "active", "limit": 1000}), 200)
    return [c["id"] for c in body]


def backlog_order(db_rows, ids):
    """Contact ids in the order their 'backlog' assignment rows were written."""
    return [r[0] for r in db_rows(
        "SELECT contact_id FROM assignments WHERE contact_id = ANY(%s) AND reason = 'backlog'"
        " ORDER BY id", (list(ids),))]


# ---------------------------------------------------------------- FIFO


def test_fifo_one_slot_at_a_time(api, assert_json, source_with_operator, db_rows):
    """c1 < c2 < c3 wait while the operator is full; each freed slot goes to exactly the oldest."""
    src, a = source_with_operator(max_load_limit=1)
    c0 = post(api, assert_json, src["id"], operator_id=a["id"])
    c1, c2, c3 = (post(api, assert_json, src["id"], operator_id=None)["id"] for _ in range(3))
    assert waiting_ids(db_rows, src["id"]) == [c1, c2, c3]
    close(api, assert_json, c0["id"])
    assert operators_of(db_rows, [c1, c2, c3]) == [a["id"], None, None]
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})
    close(api, assert_json, c1)
    assert operators_of(db_rows, [c1, c2, c3]) == [a["id"], a["id"], None]
    close(api, assert_json, c2)
    assert operators_of(db_rows, [c1, c2, c3]) == [a["id"]] * 3
    assert waiting_ids(db_rows, src["id"]) == []
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_fifo_when_limit_gives_room_for_some(api, assert_json, base_url, source_with_operator,
                                             db_rows):
    src, a = source_with_operator(max_load_limit=0)
    ids = post_waiting(base_url, src["id"], 10)
    assert set_operator(api, assert_json, a["id"], max_load_limit=4)["active_contacts"] == 4
    assert operators_of(db_rows, ids) == [a["id"]] * 4 + [None] * 6
    assert backlog_order(db_rows, ids) == ids[:4]
    assert set_operator(api, assert_json, a["id"], max_load_limit=7)["active_contacts"] == 7
    assert operators_of(db_rows, ids) == [a["id"]] * 7 + [None] * 3
    assert backlog_order(db_rows, ids) == ids[:7]
    assert_loads(api, assert_json, db_rows, {a["id"]: 7})


def test_fifo_beyond_one_batch(api, assert_json, base_url, source_with_operator, db_rows):
    """Room for 70 of 100 waiting: the request assigns a batch, the drainer the rest; in the
    end exactly the 70 oldest are assigned, in order of age."""
    src, a = source_with_operator(max_load_limit=0)
    ids = post_waiting(base_url, src["id"], 100)
    set_operator(api, assert_json, a["id"], max_load_limit=70)
    assert len(waiting_ids(db_rows, src["id"])) <= 100 - BATCH  # the request's own batch
    wait_until(lambda: len(waiting_ids(db_rows, src["id"])) == 30, DRAIN_SECONDS,
               "70 of 100 waiting contacts assigned")
    wait_until(lambda: drains_idle(db_rows), DRAIN_SECONDS, "the drains finished")
    assert operators_of(db_rows, ids) == [a["id"]] * 70 + [None] * 30
    assert backlog_order(db_rows, ids) == ids[:70]
    assert_loads(api, assert_json, db_rows, {a["id"]: 70})


def test_returned_contact_is_older_than_the_queue(api, assert_json, source_with_operator, db_rows):
    """x (older) is unassigned by hand while w (newer) waits: the freed slot goes to the oldest
    waiting contact, which is x itself; w keeps waiting."""
    src, a = source_with_operator(max_load_limit=1)
    x = post(api, assert_json, src["id"], operator_id=a["id"])["id"]
    w = post(api, assert_json, src["id"], operator_id=None)["id"]
    body = assert_json(api.patch(f"/api/contacts/{x}", json={"operator_id": None}), 200)
    assert body["operator_id"] == a["id"], body
    assert operators_of(db_rows, [x, w]) == [a["id"], None]
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


# ---------------------------------------------------------------- each trigger


def test_drain_on_contact_closed(api, assert_json, source_with_operator, db_rows):
    src, a = source_with_operator(max_load_limit=3)
    held = [post(api, assert_json, src["id"], operator_id=a["id"])["id"] for _ in range(3)]
    waiting = [post(api, assert_json, src["id"], operator_id=None)["id"] for _ in range(4)]
    close(api, assert_json, held[0])
    close(api, assert_json, held[2])
    assert operators_of(db_rows, waiting) == [a["id"], a["id"], None, None]
    assert_loads(api, assert_json, db_rows, {a["id"]: 3})


def test_drain_on_contact_closed_frees_room_in_every_source_of_the_operator(
        api, assert_json, make_source, make_operator, db_rows):
    """The operator serves two sources; a contact closed in one lets a waiting contact of the
    other (the only one waiting) be assigned."""
    s1, s2 = make_source(), make_source()
    a = make_operator(max_load_limit=1)
    configure(api, assert_json, s1["id"], [(a["id"], 1)])
    configure(api, assert_json, s2["id"], [(a["id"], 1)])
    held = post(api, assert_json, s1["id"], operator_id=a["id"])["id"]
    w = post(api, assert_json, s2["id"], operator_id=None)["id"]
    close(api, assert_json, held)
    assert operators_of(db_rows, [w]) == [a["id"]]
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_drain_on_contact_unassigned(api, assert_json, make_source, make_operator, db_rows):
    """A contact taken from its operator by hand frees the operator's slot. The contact belongs to
    s1, where the operator is no longer configured (so it stays waiting there); the slot goes to
    the contact waiting in s2 by the time the PATCH answers."""
    s1, s2 = make_source(), make_source()
    a = make_operator(max_load_limit=1)
    configure(api, assert_json, s1["id"], [(a["id"], 1)])
    x = post(api, assert_json, s1["id"], operator_id=a["id"])["id"]
    configure(api, assert_json, s1["id"], [])  # x keeps its operator; s1 has nobody now
    configure(api, assert_json, s2["id"], [(a["id"], 1)])
    w = post(api, assert_json, s2["id"], operator_id=None)["id"]
    body = assert_json(api.patch(f"/api/contacts/{x}", json={"operator_id": None}), 200)
    assert (body["operator_id"], body["status"]) == (None, "active"), body
    assert operators_of(db_rows, [x, w]) == [None, a["id"]]
    assert waiting_ids(db_rows, s1["id"]) == [x]
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_drain_on_operator_activated(api, assert_json, base_url, source_with_operator, db_rows):
    src, a = source_with_operator(max_load_limit=3, is_active=False)
    ids = post_waiting(base_url, src["id"], 5, threads=1)
    body = set_operator(api, assert_json, a["id"], is_active=True)
    assert (body["is_active"], body["active_contacts"]) == (True, 3), body
    assert operators_of(db_rows, ids) == [a["id"]] * 3 + [None] * 2
    assert_loads(api, assert_json, db_rows, {a["id"]: 3})


def test_drain_on_limit_raised(api, assert_json, base_url, make_source, make_operator, db_rows):
    src = make_source()
    a = make_operator(max_load_limit=0)
    b = make_operator(max_load_limit=0)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    ids = post_waiting(base_url, src["id"], 10, threads=1)
    assert set_operator(api, assert_json, a["id"], max_load_limit=4)["active_contacts"] == 4
    assert operators_of(db_rows, ids) == [a["id"]] * 4 + [None] * 6
    assert set_operator(api, assert_json, b["id"], max_load_limit=10)["active_contacts"] == 6
    assert operators_of(db_rows, ids) == [a["id"]] * 4 + [b["id"]] * 6
    assert_loads(api, assert_json, db_rows, {a["id"]: 4, b["id"]: 6})


def test_drain_on_source_configured(api, assert_json, base_url, make_source, make_operator,
                                    db_rows):
    src = make_source()
    a = make_operator(max_load_limit=3)
    b = make_operator(max_load_limit=10)
    off = make_operator(max_load_limit=10, is_active=False)
    zero = make_operator(max_load_limit=0)
    ids = post_waiting(base_url, src["id"], 5, threads=1)
    configure(api, assert_json, src["id"], [(off["id"], 1), (zero["id"], 1)])
    assert operators_of(db_rows, ids) == [None] * 5  # nobody eligible: nothing moves
    configure(api, assert_json, src["id"], [(a["id"], 1), (off["id"], 1), (zero["id"], 1)])
    assert operators_of(db_rows, ids) == [a["id"]] * 3 + [None] * 2
    configure(api, assert_json, src["id"], [(a["id"], HUGE), (b["id"], 1)])
    assert operators_of(db_rows, ids) == [a["id"]] * 3 + [b["id"]] * 2
    assert_loads(api, assert_json, db_rows, {a["id"]: 3, b["id"]: 2, off["id"]: 0, zero["id"]: 0})


def test_no_drain_without_capacity(api, assert_json, source_with_operator, db_rows):
    """Changes that make no capacity leave the queue alone: deactivating, lowering a limit,
    renaming a full operator, closing an unassigned contact."""
    src, a = source_with_operator(max_load_limit=1)
    post(api, assert_json, src["id"], operator_id=a["id"])
    w1, w2 = (post(api, assert_json, src["id"], operator_id=None)["id"] for _ in range(2))
    set_operator(api, assert_json, a["id"], name="renamed")
    set_operator(api, assert_json, a["id"], max_load_limit=0)
    set_operator(api, assert_json, a["id"], is_active=False)
    close(api, assert_json, w1)
    assert operators_of(db_rows, [w1, w2]) == [None, None]
    assert waiting_ids(db_rows, src["id"]) == [w2]


def test_drain_only_touches_affected_sources(api, assert_json, make_source, make_operator,
                                             db_rows):
    """Room on an operator drains its own sources only; closed unassigned contacts never move."""
    s1, s2 = make_source(), make_source()
    a = make_operator(max_load_limit=0)
    b = make_operator(max_load_limit=HUGE, is_active=False)
    configure(api, assert_json, s1["id"], [(a["id"], 1)])
    configure(api, assert_json, s2["id"], [(b["id"], 1)])
    w1 = [post(api, assert_json, s1["id"], operator_id=None)["id"] for _ in range(3)]
    w2 = [post(api, assert_json, s2["id"], operator_id=None)["id"] for _ in range(2)]
    close(api, assert_json, w1[0])
    set_operator(api, assert_json, a["id"], max_load_limit=HUGE)
    assert operators_of(db_rows, w1) == [None, a["id"], a["id"]]
    assert operators_of(db_rows, w2) == [None, None]
    assert db_rows("SELECT status FROM contacts WHERE id = %s", (w1[0],))[0][0] == "closed"
    assert_loads(api, assert_json, db_rows, {a["id"]: 2, b["id"]: 0})


def test_backlog_skips_ineligible_operators(api, assert_json, base_url, make_source,
                                            make_operator, db_rows):
    """The backlog uses the same rule as intake: inactive and full operators, however heavy,
    get nothing; the eligible one takes the queue up to its limit."""
    src = make_source()
    off = make_operator(max_load_limit=HUGE, is_active=False)
    full = make_operator(max_load_limit=0)
    a = make_operator(max_load_limit=0)
    configure(api, assert_json, src["id"], [(off["id"], HUGE), (full["id"], HUGE), (a["id"], 1)])
    ids = post_waiting(base_url, src["id"], 20)
    set_operator(api, assert_json, a["id"], max_load_limit=15)
    assert operators_of(db_rows, ids) == [a["id"]] * 15 + [None] * 5
    assert_loads(api, assert_json, db_rows, {off["id"]: 0, full["id"]: 0, a["id"]: 15})


# ---------------------------------------------------------------- weighted rule in the backlog

N_BACKLOG_WEIGHTED = 400


def test_backlog_follows_weights(api, assert_json, base_url, make_source, make_operator,
                                 db_rows):
    """400 waiting contacts; configuring weights 1 and 3 (room for all) drains the queue by the
    weighted rule: count(A) ~ Binomial(400, 1/4), mean 100, sd 8.66. Exact acceptance interval
    for a false-failure chance of at most 5e-8 per tail: [57, 148]. Ignored weights (mean 200)
    or swapped ones (mean 300) fail with certainty for all practical purposes."""
    lo, hi, _ = binomial_interval(N_BACKLOG_WEIGHTED, Fraction(1, 4), Fraction(5, 10 ** 8))
    assert (lo, hi) == (57, 148)
    src = make_source()
    a = make_operator(max_load_limit=HUGE)
    b = make_operator(max_load_limit=HUGE)
    ids = post_waiting(base_url, src["id"], N_BACKLOG_WEIGHTED)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 3)])
    wait_until(lambda: not waiting_ids(db_rows, src["id"]), DRAIN_SECONDS, "queue drained")
    got = operators_of(db_rows, ids)
    count_a = got.count(a["id"])
    assert count_a + got.count(b["id"]) == N_BACKLOG_WEIGHTED, set(got)
    assert lo <= count_a <= hi, f"A (weight 1 of 4) got {count_a} of {N_BACKLOG_WEIGHTED}"
    assert_loads(api, assert_json, db_rows,
                 {a["id"]: count_a, b["id"]: N_BACKLOG_WEIGHTED - count_a})


# ---------------------------------------------------------------- no lost wake-up


def test_whole_queue_drained_after_one_limit_raise(api, assert_json, base_url, source_with_operator,
                                                   db_rows):
    """600 waiting contacts; one PATCH raises the limit from 0 to 5000. The answer comes after
    the request's own batch; the drainer must finish the queue within seconds."""
    n = 600
    src, a = source_with_operator(max_load_limit=0)
    ids = post_waiting(base_url, src["id"], n)
    assert len(api_waiting(api, assert_json, src["id"])) == n
    body = set_operator(api, assert_json, a["id"], max_load_limit=5000)
    assert body["active_contacts"] >= BATCH, body
    wait_until(lambda: api_waiting(api, assert_json, src["id"]) == [], DRAIN_SECONDS,
               f"{n} waiting contacts assigned")
    assert operators_of(db_rows, ids) == [a["id"]] * n
    assert_loads(api, assert_json, db_rows, {a["id"]: n})
    assert sorted(backlog_order(db_rows, ids)) == ids  # one backlog entry each
    assert backlog_order(db_rows, ids)[:BATCH] == ids[:BATCH]


def test_closed_concurrently_all_waiting_assigned_by_the_answers(api, assert_json, base_url,
                                                                 source_with_operator, db_rows):
    """20 held, 20 waiting; the 20 held are closed by 20 simultaneous PATCHes. When the last
    answer has arrived every waiting contact is assigned (no polling)."""
    n = 20
    src, a = source_with_operator(max_load_limit=n)
    held = [post(api, assert_json, src["id"], operator_id=a["id"])["id"] for _ in range(n)]
    waiting = post_waiting(base_url, src["id"], n)
    responses = simultaneous(
        base_url, [("PATCH", f"/api/contacts/{cid}", {"status": "closed"}) for cid in held])
    assert [r.status_code for r in responses] == [200] * n
    assert operators_of(db_rows, waiting) == [a["id"]] * n
    assert_loads(api, assert_json, db_rows, {a["id"]: n})


@pytest.mark.slow
def test_safety_sweep_assigns_contact_written_behind_the_api(api, assert_json, source_with_operator,
                                                             db_rows):
    """A waiting contact inserted straight into the database (no trigger, no NOTIFY) is assigned
    by the drainer's periodic sweep."""
    src, a = source_with_operator(max_load_limit=5)
    lead = db_rows("INSERT INTO leads (email) VALUES (%s) RETURNING id", (new_email("sw"),))[0][0]
    cid = db_rows("INSERT INTO contacts (lead_id, source_id) VALUES (%s, %s) RETURNING id",
                  (lead, src["id"]))[0][0]
    wait_until(lambda: operators_of(db_rows, [cid]) == [a["id"]], SWEEP_SECONDS + 5,
               "sweep assigned the contact")
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


@pytest.mark.slow
def test_fifo_while_the_drainer_is_busy(api, assert_json, base_url, make_source, make_operator,
                                       db_rows):
    """Oldest first must hold while the background drainer runs its passes (kept busy here by
    NOTIFYs on its channel, crm_backlog). 60 sources, each with 34 waiting contacts and one
    operator whose limit is raised from 0 to 32: each PATCH must assign exactly the 32 oldest.

    A drain that passes over a waiting contact another transaction has locked (FOR UPDATE SKIP
    LOCKED) breaks this: a drainer pass that visits the source while the PATCH holds the
    operator locks the oldest waiting contact, cannot take the operator, and keeps the lock to
    the end of its pass; the PATCH then skips that contact and assigns a newer one. (When that
    contact is the only one waiting, nobody assigns it until the next sweep.)"""
    psycopg2 = pytest.importorskip("psycopg2")
    lanes_n, per_lane = 60, BATCH + 2

    def lane(_):
        with keyed_session() as s:
            def ok(resp, status):
                assert resp.status_code == status, resp.text[:300]
                return resp.json()
            src = ok(s.post(base_url + "/api/sources", json={"name": f"busy-{uuid.uuid4().hex}"},
                            timeout=60), 201)
            op = ok(s.post(base_url + "/api/operators", json={"name": "busy", "max_load_limit": 0},
                           timeout=60), 201)
            ok(s.post(f"{base_url}/api/sources/{src['id']}/operators", timeout=60,
                      json={"operators": [{"operator_id": op["id"], "weight": 1}]}), 200)
            ids = []
            for _ in range(per_lane):
                body = ok(s.post(base_url + "/api/contacts", timeout=60,
                                 json={"email": new_email("busy"), "source_id": src["id"]}), 201)
                assert body["operator_id"] is None, body
                ids.append(body["id"])
            return src["id"], op["id"], sorted(ids)

    with ThreadPoolExecutor(max_workers=8) as pool:
        lanes = list(pool.map(lane, range(lanes_n)))

    stop = threading.Event()
    conn = psycopg2.connect(os.environ["CRM_TEST_DSN"])
    conn.autocommit = True

    def notifier():
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("NOTIFY crm_backlog")
                time.sleep(0.002)

    thread = threading.Thread(target=notifier, daemon=True)
    thread.start()
    problems = []
    try:
        for src_id, op_id, ids in lanes:
            set_operator(api, assert_json, op_id, max_load_limit=BATCH)
            got = operators_of(db_rows, ids)
            if got != [op_id] * BATCH + [None] * (per_lane - BATCH):
                late = [i for i, o in zip(ids, got) if o is None]
                problems.append(f"source {src_id}: waiting after the PATCH {late},"
                                f" expected {ids[BATCH:]}")
    finally:
        stop.set()
        thread.join(timeout=10)
        conn.close()
    assert not problems, f"{len(problems)} of {lanes_n} drains not oldest-first: {problems[:5]}"
