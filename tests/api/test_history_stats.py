"""Assignment history (GET /api/contacts/{id}/assignments) and source stats
(GET /api/sources/{id}/stats).

History: every assignment decision is appended: contact, operator (or none), when, why (intake,
backlog, manual, unassigned), the source's configuration version it was made on, the candidates
considered (every operator configured for the source, with weight, limit, is_active and whether
it was eligible at that moment; since migration 0010 the other candidates' loads are not kept)
or the reason nobody was chosen (note: 'no operators configured', 'all inactive', 'all at
limit'). The intake's decision is kept with its contact, the later ones in `assignments`
(the view assignment_history shows both). load_before is the chosen
operator's active count just before the assignment, so load_before < max_load_limit for every
entry with an operator and reason intake/backlog/manual. Oldest first; 404 for an unknown
contact. The table is append-only: UPDATE/DELETE/TRUNCATE fail for everyone.

Stats: {source_id, waiting, assigned_total, operators: [{operator_id, name, weight,
configured_share, assigned, actual_share, active_contacts, max_load_limit, is_active}]} by
operator_id; configured_share = weight / sum(weights), actual_share = assigned / assigned_total
(0 if none). 404 for an unknown source.
"""

import os

import pytest
from helpers import (MISSING_ID, configure, new_email, parse_time, patch_contact, post, require_env,
                     set_operator, simultaneous)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

ENTRY_KEYS = {"id", "contact_id", "operator_id", "reason", "note", "load_before",
              "max_load_limit", "config_version", "candidates", "created_at", "sticky_contact_id"}
CANDIDATE_KEYS = {"operator_id", "weight", "max_load_limit", "is_active", "eligible"}
REASONS = {"intake", "backlog", "manual", "unassigned"}
NOTES = {"no operators configured", "all inactive", "all off shift", "all at limit"}
STATS_KEYS = {"source_id", "waiting", "assigned_total", "mode", "operators"}
OP_STATS_KEYS = {"operator_id", "name", "weight", "configured_share", "assigned", "actual_share",
                 "active_contacts", "max_load_limit", "is_active", "on_shift"}


# ---------------------------------------------------------------- local helpers


def cand(op, load, weight, limit=None, active=None):
    """Expected candidate entry for operator dict `op` (limit/active default to op's) whose
    load was `load`: eligible when active and below its limit (the load itself is not shown)."""
    limit = op["max_load_limit"] if limit is None else limit
    active = op["is_active"] if active is None else active
    return {"operator_id": op["id"], "weight": weight, "max_load_limit": limit,
            "is_active": active, "eligible": active and load < limit}


def history(api, assert_json, contact):
    """GET the history, check every entry's shape and the oldest-first order; return it."""
    cid = contact["id"]
    body = assert_json(api.get(f"/api/contacts/{cid}/assignments"), 200)
    assert isinstance(body, list), body
    created = parse_time(contact["created_at"])
    last_id, last_time = 0, created
    for e in body:
        assert isinstance(e, dict) and set(e) == ENTRY_KEYS, e
        assert type(e["id"]) is int and e["id"] > last_id, body  # oldest first
        assert e["contact_id"] == cid, e
        assert e["operator_id"] is None or type(e["operator_id"]) is int, e
        assert e["reason"] in REASONS, e
        assert e["note"] is None or isinstance(e["note"], str), e
        for key in ("load_before", "max_load_limit"):
            assert e[key] is None or type(e[key]) is int, e
        assert isinstance(e["candidates"], list), e
        for c in e["candidates"]:
            assert isinstance(c, dict) and set(c) == CANDIDATE_KEYS, e
            for key in ("operator_id", "weight", "max_load_limit"):
                assert type(c[key]) is int, e
            assert type(c["is_active"]) is bool and type(c["eligible"]) is bool, e
            assert c["is_active"] or not c["eligible"], e
        assert type(e["config_version"]) is int and e["config_version"] >= 0, e
        if e["note"] is not None:  # nobody was eligible
            assert not any(c["eligible"] for c in e["candidates"]), e
        if e["operator_id"] is not None and e["reason"] in ("intake", "backlog"):
            chosen, = [c for c in e["candidates"] if c["operator_id"] == e["operator_id"]]
            assert chosen["eligible"], e
        ids = [c["operator_id"] for c in e["candidates"]]
        assert len(ids) == len(set(ids)), e
        when = parse_time(e["created_at"])
        assert when >= last_time, body
        last_id, last_time = e["id"], when
        if e["operator_id"] is not None and e["reason"] != "unassigned":
            assert e["note"] is None, e
            assert e["load_before"] is not None and e["max_load_limit"] is not None, e
            assert 0 <= e["load_before"] < e["max_load_limit"], e
        if e["operator_id"] is None:
            assert e["load_before"] is None and e["max_load_limit"] is None, e
    assert body and body[0]["reason"] == "intake", body
    assert [e["reason"] for e in body].count("intake") == 1, body
    return body


def intake_nobody(api, assert_json, source_id, note):
    """Post a contact nobody can take; its history must be one intake entry without an
    operator, with this note. Returns that entry."""
    c = post(api, assert_json, source_id, operator_id=None)
    e, = history(api, assert_json, c)
    assert (e["operator_id"], e["reason"], e["note"], e["load_before"], e["max_load_limit"]) == (
        None, "intake", note, None, None), e
    return e


def by_op(candidates):
    return sorted(candidates, key=lambda c: c["operator_id"])


def db_history(db_rows, cid):
    return db_rows("SELECT id, operator_id, reason, note, load_before, load_limit, version,"
                   " eligible, ineligible FROM assignment_history WHERE contact_id = %s ORDER BY id",
                   (cid,))


# ---------------------------------------------------------------- history: intake


def test_intake_with_operator(api, assert_json, make_source, make_operator, db_rows):
    src, other = make_source(), make_source()
    a = make_operator(max_load_limit=5)
    off = make_operator(max_load_limit=3, is_active=False)
    zero = make_operator(max_load_limit=0)
    configure(api, assert_json, other["id"], [(a["id"], 1)])
    post(api, assert_json, other["id"], operator_id=a["id"])  # a's load is 1 from elsewhere
    configure(api, assert_json, src["id"], [(a["id"], 7), (off["id"], 2), (zero["id"], 9)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    h = history(api, assert_json, c)
    assert len(h) == 1, h
    e = h[0]
    assert (e["operator_id"], e["reason"], e["note"], e["load_before"], e["max_load_limit"]) == (
        a["id"], "intake", None, 1, 5), e
    assert by_op(e["candidates"]) == by_op([cand(a, 1, 7), cand(off, 0, 2), cand(zero, 0, 9)])
    # the same row in the table
    rows = db_history(db_rows, c["id"])
    assert [r[:6] for r in rows] == [(e["id"], a["id"], "intake", None, 1, 5)]


def test_second_intake_sees_the_first(api, assert_json, source_with_operator):
    src, a = source_with_operator(weight=3, max_load_limit=2)
    c1 = post(api, assert_json, src["id"], operator_id=a["id"])
    c2 = post(api, assert_json, src["id"], operator_id=a["id"])
    c3 = post(api, assert_json, src["id"], operator_id=None)
    e1, = history(api, assert_json, c1)
    e2, = history(api, assert_json, c2)
    e3, = history(api, assert_json, c3)
    assert (e1["load_before"], e2["load_before"]) == (0, 1)
    assert e1["candidates"] == [cand(a, 0, 3)]
    assert e2["candidates"] == [cand(a, 1, 3)]
    assert e3["candidates"] == [cand(a, 2, 3)]
    assert e3["note"] == "all at limit"
    assert e1["id"] < e2["id"] < e3["id"]


def test_intake_nobody_no_operators_configured(api, assert_json, make_source, make_operator):
    src = make_source()
    make_operator(max_load_limit=10)  # exists, active, free, but not configured for src
    e = intake_nobody(api, assert_json, src["id"], "no operators configured")
    assert e["candidates"] == [], e


def test_intake_nobody_cleared_configuration(api, assert_json, source_with_operator):
    src, a = source_with_operator(max_load_limit=10)
    configure(api, assert_json, src["id"], [])
    c = post(api, assert_json, src["id"], operator_id=None)
    e, = history(api, assert_json, c)
    assert (e["note"], e["candidates"]) == ("no operators configured", []), e


def test_intake_nobody_all_inactive(api, assert_json, make_source, make_operator):
    src = make_source()
    o1 = make_operator(max_load_limit=10, is_active=False)
    o2 = make_operator(max_load_limit=0, is_active=False)
    configure(api, assert_json, src["id"], [(o1["id"], 4), (o2["id"], 6)])
    e = intake_nobody(api, assert_json, src["id"], "all inactive")
    assert by_op(e["candidates"]) == by_op([cand(o1, 0, 4), cand(o2, 0, 6)])


def test_intake_nobody_all_at_limit(api, assert_json, make_source, make_operator):
    src = make_source()
    full = make_operator(max_load_limit=1)
    zero = make_operator(max_load_limit=0)
    configure(api, assert_json, src["id"], [(full["id"], 2)])
    post(api, assert_json, src["id"], operator_id=full["id"])
    configure(api, assert_json, src["id"], [(full["id"], 2), (zero["id"], 5)])
    e = intake_nobody(api, assert_json, src["id"], "all at limit")
    assert by_op(e["candidates"]) == by_op([cand(full, 1, 2), cand(zero, 0, 5)])


# ------------------------------------------------------- history: backlog, manual, unassigned


def test_backlog_entry(api, assert_json, source_with_operator):
    src, a = source_with_operator(weight=4, max_load_limit=1)
    c0 = post(api, assert_json, src["id"], operator_id=a["id"])
    w = post(api, assert_json, src["id"], operator_id=None)
    assert_json(patch_contact(api, c0["id"], {"status": "closed"}), 200)
    h = history(api, assert_json, w)
    assert [(e["reason"], e["operator_id"], e["note"]) for e in h] == [
        ("intake", None, "all at limit"), ("backlog", a["id"], None)], h
    assert h[0]["candidates"] == [cand(a, 1, 4)]
    assert (h[1]["load_before"], h[1]["max_load_limit"]) == (0, 1), h[1]
    assert h[1]["candidates"] == [cand(a, 0, 4)]  # the state the decision was made on
    # closing is not an assignment decision: c0's history is unchanged
    assert [e["reason"] for e in history(api, assert_json, c0)] == ["intake"]


def test_backlog_entry_after_activation(api, assert_json, source_with_operator):
    src, a = source_with_operator(max_load_limit=4, is_active=False)
    w1 = post(api, assert_json, src["id"], operator_id=None)
    w2 = post(api, assert_json, src["id"], operator_id=None)
    set_operator(api, assert_json, a["id"], is_active=True)
    h1, h2 = history(api, assert_json, w1), history(api, assert_json, w2)
    assert [(e["reason"], e["operator_id"], e["note"]) for e in h1] == [
        ("intake", None, "all inactive"), ("backlog", a["id"], None)], h1
    assert [(e["reason"], e["operator_id"]) for e in h2] == [("intake", None),
                                                             ("backlog", a["id"])], h2
    assert (h1[1]["load_before"], h2[1]["load_before"]) == (0, 1)
    assert h1[1]["candidates"] == [cand(a, 0, 1, active=True)]
    assert h2[1]["candidates"] == [cand(a, 1, 1, active=True)]
    assert h1[1]["id"] < h2[1]["id"]


def a_contact_then_b_activated(api, assert_json, make_source, make_operator, weight_a, weight_b):
    """A source configured with a (limit 5) and b (limit 3, inactive), at these weights; a contact
    c of the source (so on a); then b activated. Returns (src, a, b, c) as created."""
    src = make_source()
    a = make_operator(max_load_limit=5)
    b = make_operator(max_load_limit=3, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], weight_a), (b["id"], weight_b)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    set_operator(api, assert_json, b["id"], is_active=True)
    return src, a, b, c


def test_manual_entry(api, assert_json, make_source, make_operator):
    src, a, b, c = a_contact_then_b_activated(api, assert_json, make_source, make_operator, 2, 3)
    assert_json(patch_contact(api, c["id"], {"operator_id": b["id"]}), 200)
    h = history(api, assert_json, c)
    assert [(e["reason"], e["operator_id"]) for e in h] == [("intake", a["id"]),
                                                            ("manual", b["id"])], h
    m = h[1]
    assert (m["note"], m["load_before"], m["max_load_limit"]) == (None, 0, 3), m
    # the loads the decision was made on: c still counted for a, b empty
    assert by_op(m["candidates"]) == by_op([cand(a, 1, 2), cand(b, 0, 3, active=True)]), m


def test_manual_entry_of_closed_contact_records_load(api, assert_json, make_source,
                                                     make_operator):
    """Moving a closed contact is still a manual assignment: it records the target's load and
    limit like any other entry with an operator."""
    src, a, b, c = a_contact_then_b_activated(api, assert_json, make_source, make_operator, 1, 1)
    post(api, assert_json, src["id"])  # b (or a) gets one more: loads are not all 0
    assert_json(patch_contact(api, c["id"], {"status": "closed"}), 200)
    load_b = assert_json(api.get(f"/api/operators/{b['id']}"), 200)["active_contacts"]
    body = assert_json(patch_contact(api, c["id"], {"operator_id": b["id"]}), 200)
    assert (body["operator_id"], body["status"]) == (b["id"], "closed"), body
    m = history(api, assert_json, c)[-1]
    assert (m["reason"], m["operator_id"], m["load_before"], m["max_load_limit"]) == (
        "manual", b["id"], load_b, 3), m


def test_move_closed_contact_to_full_operator_is_409(api, assert_json, assert_problem,
                                                     make_source, make_operator, db_rows):
    """'the target must be ... below its limit, else 409' holds for closed contacts too."""
    src = make_source()
    a = make_operator(max_load_limit=5)
    full = make_operator(max_load_limit=0)
    configure(api, assert_json, src["id"], [(a["id"], 1), (full["id"], 1)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    assert_json(patch_contact(api, c["id"], {"status": "closed"}), 200)
    n = len(db_history(db_rows, c["id"]))
    assert_problem(api.patch(f"/api/contacts/{c['id']}", json={"operator_id": full["id"]}), 409)
    assert db_rows("SELECT operator_id, status FROM contacts WHERE id = %s",
                   (c["id"],)) == [(a["id"], "closed")]
    assert len(db_history(db_rows, c["id"])) == n


def test_unassigned_then_backlog_entries(api, assert_json, source_with_operator):
    """Unassigned by hand while its operator is eligible: 'unassigned' then 'backlog' (same one)."""
    src, a = source_with_operator(weight=5, max_load_limit=2)
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    body = assert_json(patch_contact(api, c["id"], {"operator_id": None}), 200)
    assert body["operator_id"] == a["id"], body
    h = history(api, assert_json, c)
    assert [(e["reason"], e["operator_id"]) for e in h] == [
        ("intake", a["id"]), ("unassigned", None), ("backlog", a["id"])], h
    u, b = h[1], h[2]
    assert (u["load_before"], u["max_load_limit"]) == (None, None), u
    assert [(x["operator_id"], x["weight"]) for x in u["candidates"]] == [(a["id"], 5)], u
    assert (b["note"], b["load_before"], b["max_load_limit"]) == (None, 0, 2), b
    assert b["candidates"] == [cand(a, 0, 5)], b


def test_unassigned_with_nobody_eligible(api, assert_json, source_with_operator):
    src, a = source_with_operator(weight=5, max_load_limit=2)
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    set_operator(api, assert_json, a["id"], is_active=False)
    assert assert_json(patch_contact(api, c["id"], {"operator_id": None}), 200)["operator_id"] is None
    h = history(api, assert_json, c)
    assert [(e["reason"], e["operator_id"]) for e in h] == [("intake", a["id"]),
                                                            ("unassigned", None)], h


def test_refusals_and_status_changes_add_no_entry(api, assert_json, assert_problem, make_source,
                                                  make_operator, db_rows):
    src = make_source()
    a = make_operator(max_load_limit=1)
    off = make_operator(max_load_limit=5, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (off["id"], 1)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    before = db_history(db_rows, c["id"])
    assert_problem(api.patch(f"/api/contacts/{c['id']}", json={"operator_id": off["id"]}), 409)
    assert_problem(api.patch(f"/api/contacts/{c['id']}", json={"operator_id": MISSING_ID}), 422)
    assert_problem(api.patch(f"/api/contacts/{c['id']}", json={"status": "gone"}), 422)
    assert_json(patch_contact(api, c["id"], {"operator_id": a["id"]}), 200)  # already its operator
    assert_json(patch_contact(api, c["id"], {"status": "closed"}), 200)
    assert_json(patch_contact(api, c["id"], {"status": "active"}), 200)
    assert db_history(db_rows, c["id"]) == before


def test_history_unknown_contact_is_404(api, assert_problem):
    assert_problem(api.get(f"/api/contacts/{MISSING_ID}/assignments"), 404)
    for path in ("/api/contacts/abc/assignments", "/api/contacts/1/assignments/",
                 "/api/contacts/-1/assignments"):
        assert_problem(api.get(path), 404)


def test_history_wrong_method_is_405(api, assert_problem, make_source, assert_json):
    c = post(api, assert_json, make_source()["id"])
    resp = api.post(f"/api/contacts/{c['id']}/assignments", json={})
    assert_problem(resp, 405)
    allowed = {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
    assert "GET" in allowed and allowed - {"GET"} <= {"HEAD", "OPTIONS"}, allowed


def test_load_before_below_limit_under_concurrency(api, base_url, assert_json, make_source,
                                                   make_operator, db_rows):
    """40 simultaneous intakes onto limits 3 and 4, then 7 closes: every entry with an operator
    has load_before < max_load_limit, and the entries of each operator have distinct
    load_before values per slot taken in a row (no two decisions saw the same free slot)."""
    src = make_source()
    a = make_operator(max_load_limit=3)
    b = make_operator(max_load_limit=4)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    responses = simultaneous(base_url, [
        ("POST", "/api/contacts", {"email": new_email("cc"), "source_id": src["id"]})
        for _ in range(40)])
    for r in responses:
        assert r.status_code == 201, r.text
    made = [r.json() for r in responses]
    intake = db_rows("SELECT operator_id, load_before, load_limit FROM assignment_history"
                     " WHERE contact_id = ANY(%s) AND operator_id IS NOT NULL",
                     ([c["id"] for c in made],))
    assert sorted((o, lb) for o, lb, _ in intake) == sorted(
        [(a["id"], i) for i in range(3)] + [(b["id"], i) for i in range(4)])
    for c in made:
        if c["operator_id"] is not None:
            assert_json(patch_contact(api, c["id"], {"status": "closed"}), 200)
    rows = db_rows("SELECT reason, operator_id, load_before, load_limit FROM assignment_history"
                   " WHERE contact_id = ANY(%s) ORDER BY id", ([c["id"] for c in made],))
    assert len(rows) == 40 + 7, rows
    for reason, op, lb, lim in rows:
        if op is not None:
            assert lb is not None and lim is not None and lb < lim, (reason, op, lb, lim)
    for c in made:
        history(api, assert_json, c)


# ---------------------------------------------------------------- append-only


def _entries(db_rows, api, assert_json, source_with_operator):
    """A contact with an intake entry (kept with the contact), then unassigned and drained
    again: entries in assignments too. Returns (contact, its history rows)."""
    src, a = source_with_operator(max_load_limit=2)
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    assert_json(patch_contact(api, c["id"], {"operator_id": None}), 200)
    rows = db_history(db_rows, c["id"])
    assert [r[2] for r in rows] == ["intake", "unassigned", "backlog"], rows
    return c, rows


@pytest.mark.parametrize("sql", [
    "UPDATE assignments SET note = 'x' WHERE id = %(later)s",
    "UPDATE assignments SET operator_id = NULL, reason = 'manual' WHERE id = %(later)s",
    "DELETE FROM assignments WHERE id = %(later)s",
    "TRUNCATE assignments",
    "UPDATE contacts SET intake_note = 'x' WHERE intake_id = %(intake)s",
    "UPDATE contacts SET intake_operator_id = NULL, intake_load = NULL WHERE intake_id = %(intake)s",
    "UPDATE contacts SET intake_ineligible = '{1}' WHERE intake_id = %(intake)s",
], ids=["update-note", "update-reason", "delete", "truncate", "intake-note", "intake-operator",
        "intake-ineligible"])
@pytest.mark.parametrize("who", ["superuser", "app-role"])
def test_assignments_are_append_only(api, assert_json, source_with_operator, db_rows, sql, who):
    psycopg2 = pytest.importorskip("psycopg2")
    dsn = os.environ.get("CRM_TEST_DSN" if who == "superuser" else "CRM_TEST_APP_DSN")
    if not dsn:
        pytest.skip("CRM_TEST_APP_DSN is not set")
    c, rows = _entries(db_rows, api, assert_json, source_with_operator)
    total = db_rows("SELECT count(*) FROM assignments")[0][0]
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:  # one transaction, always rolled back: a miss harms nothing
            cur.execute("SET LOCAL lock_timeout = '5s'")
            with pytest.raises(psycopg2.Error) as caught:
                cur.execute(sql, {"intake": rows[0][0], "later": rows[1][0]})
                pytest.fail(f"{who} could run {sql!r}")
            # refused, not merely unable to get its lock in time
            assert caught.value.pgcode != "55P03", caught.value
    finally:
        conn.rollback()
        conn.close()
    assert db_history(db_rows, c["id"]) == rows
    assert db_rows("SELECT count(*) FROM assignments")[0][0] >= total


# ---------------------------------------------------------------- stats


def stats(api, assert_json, source_id):
    body = assert_json(api.get(f"/api/sources/{source_id}/stats"), 200)
    assert isinstance(body, dict) and set(body) == STATS_KEYS, body
    assert body["source_id"] == source_id, body
    for key in ("waiting", "assigned_total"):
        assert type(body[key]) is int and body[key] >= 0, body
    assert isinstance(body["operators"], list), body
    for o in body["operators"]:
        assert isinstance(o, dict) and set(o) == OP_STATS_KEYS, o
        for key in ("operator_id", "weight", "assigned", "active_contacts", "max_load_limit"):
            assert type(o[key]) is int, o
        for key in ("configured_share", "actual_share"):
            assert type(o[key]) in (int, float) and 0 <= o[key] <= 1, o
        assert type(o["is_active"]) is bool and isinstance(o["name"], str), o
    ids = [o["operator_id"] for o in body["operators"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), body
    return body


def op_row(op, weight, configured, assigned, actual, active, limit=None, is_active=None, name=None,
           on_shift=True):
    return {"operator_id": op["id"], "name": name or op["name"], "weight": weight,
            "configured_share": round(configured, 4), "assigned": assigned,
            "actual_share": round(actual, 4), "active_contacts": active,
            "max_load_limit": op["max_load_limit"] if limit is None else limit,
            "is_active": op["is_active"] if is_active is None else is_active, "on_shift": on_shift}


def rounded(body):
    return [dict(o, configured_share=round(o["configured_share"], 4),
                 actual_share=round(o["actual_share"], 4)) for o in body["operators"]]


def test_stats_known_scenario(api, assert_json, make_source, make_operator, db_rows):
    """A (weight 1, limit 2), B (weight 3, limit 3, one contact of another source) and C
    (weight 4, inactive) serve S; 7 contacts: A takes 2, B 2, 3 wait.
    Then one of A's is closed (a waiting one goes to A) and one waiting contact is closed."""
    src, other = make_source(), make_source()
    a = make_operator(max_load_limit=2)
    b = make_operator(max_load_limit=3)
    c = make_operator(max_load_limit=10, is_active=False)
    configure(api, assert_json, other["id"], [(b["id"], 1)])
    post(api, assert_json, other["id"], operator_id=b["id"])
    configure(api, assert_json, src["id"], [(c["id"], 4), (b["id"], 3), (a["id"], 1)])
    made = [post(api, assert_json, src["id"]) for _ in range(7)]
    got = [m["operator_id"] for m in made]
    assert sorted(got, key=str) == sorted([a["id"]] * 2 + [b["id"]] * 2 + [None] * 3, key=str)
    s = stats(api, assert_json, src["id"])
    assert (s["waiting"], s["assigned_total"]) == (3, 4), s
    assert rounded(s) == sorted([
        op_row(a, 1, 1 / 8, 2, 0.5, 2),
        op_row(b, 3, 3 / 8, 2, 0.5, 3),
        op_row(c, 4, 4 / 8, 0, 0.0, 0),
    ], key=lambda o: o["operator_id"]), s

    a_contact = next(m for m in made if m["operator_id"] == a["id"])
    assert_json(patch_contact(api, a_contact["id"], {"status": "closed"}), 200)  # a waiting one goes to A
    s = stats(api, assert_json, src["id"])
    assert (s["waiting"], s["assigned_total"]) == (2, 5), s
    assert rounded(s) == sorted([
        op_row(a, 1, 1 / 8, 3, 3 / 5, 2),
        op_row(b, 3, 3 / 8, 2, 2 / 5, 3),
        op_row(c, 4, 4 / 8, 0, 0.0, 0),
    ], key=lambda o: o["operator_id"]), s

    waiting = db_rows("SELECT id FROM contacts WHERE source_id = %s AND operator_id IS NULL"
                      " AND status = 'active' ORDER BY id", (src["id"],))
    assert_json(patch_contact(api, waiting[0][0], {"status": "closed"}), 200)  # closed: no longer waiting
    set_operator(api, assert_json, c["id"], name="renamed-c", max_load_limit=0, is_active=True)
    s = stats(api, assert_json, src["id"])
    assert (s["waiting"], s["assigned_total"]) == (1, 5), s
    assert rounded(s) == sorted([
        op_row(a, 1, 1 / 8, 3, 3 / 5, 2),
        op_row(b, 3, 3 / 8, 2, 2 / 5, 3),
        op_row(c, 4, 4 / 8, 0, 0.0, 0, limit=0, is_active=True, name="renamed-c"),
    ], key=lambda o: o["operator_id"]), s
    # the figures agree with the database
    assert s["assigned_total"] == db_rows(
        "SELECT count(*) FROM contacts WHERE source_id = %s AND operator_id IS NOT NULL",
        (src["id"],))[0][0]


def test_stats_thirds(api, assert_json, make_source, make_operator):
    """Shares that are not exact in binary: weights 1 and 2, 1 and 2 contacts."""
    src = make_source()
    a = make_operator(max_load_limit=1)
    b = make_operator(max_load_limit=2)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 2)])
    for _ in range(4):
        post(api, assert_json, src["id"])
    s = stats(api, assert_json, src["id"])
    assert (s["waiting"], s["assigned_total"]) == (1, 3), s
    assert rounded(s) == sorted([
        op_row(a, 1, 1 / 3, 1, 1 / 3, 1),
        op_row(b, 2, 2 / 3, 2, 2 / 3, 2),
    ], key=lambda o: o["operator_id"]), s
    for o in s["operators"]:
        assert abs(o["configured_share"] - o["weight"] / 3) < 1e-4, o
        assert abs(o["actual_share"] - o["assigned"] / 3) < 1e-4, o


def test_stats_empty_source(api, assert_json, make_source):
    src = make_source()
    assert stats(api, assert_json, src["id"]) == {
        "source_id": src["id"], "waiting": 0, "assigned_total": 0, "mode": "weighted_random", "operators": []}


def test_stats_only_waiting(api, assert_json, make_source, make_operator):
    src = make_source()
    for _ in range(3):
        post(api, assert_json, src["id"], operator_id=None)
    off = make_operator(max_load_limit=5, is_active=False)
    configure(api, assert_json, src["id"], [(off["id"], 5)])
    s = stats(api, assert_json, src["id"])
    assert (s["waiting"], s["assigned_total"]) == (3, 0), s
    assert rounded(s) == [op_row(off, 5, 1.0, 0, 0.0, 0)], s


def test_stats_unknown_source_is_404(api, assert_problem):
    assert_problem(api.get(f"/api/sources/{MISSING_ID}/stats"), 404)
    for path in ("/api/sources/abc/stats", "/api/sources/1/stats/", "/api/sources/-1/stats"):
        assert_problem(api.get(path), 404)


def test_stats_wrong_method_is_405(api, assert_problem, make_source):
    resp = api.post(f"/api/sources/{make_source()['id']}/stats", json={})
    assert_problem(resp, 405)
    allowed = {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
    assert "GET" in allowed and allowed - {"GET"} <= {"HEAD", "OPTIONS"}, allowed
