"""Sticky returning leads (issue 14): a source's sticky_window_seconds, PATCH /api/sources/{id},
and the intake that gives a returning lead back to the operator of its most recent contact.

The rule (README "Sticky returning leads"): when the lead's most recent contact, from any
source, went to its operator within the window, and that operator is configured for this
source and eligible now, the contact goes to it (history reason "sticky", sticky_contact_id
the earlier contact); otherwise the usual weighted rule decides (reason "intake").
"""

import json
import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import (MISSING_ID, SOURCE_KEYS, ApiClient, check_json, check_problem, configure, new_email, post,
                     require_env, set_operator, unique)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def get_source(api, source_id):
    return check_json(api.get(f"/api/sources/{source_id}"), 200)


def patch_source(api, source_id, body):
    return api.patch(f"/api/sources/{source_id}", json=body)


def db_window(db_rows, source_id):
    return db_rows("SELECT sticky_window_seconds FROM sources WHERE id = %s", (source_id,))[0][0]


def entries(api, contact_id):
    return check_json(api.get(f"/api/contacts/{contact_id}/assignments"), 200)


def sticky_source(api, make_source, pairs, window=3600):
    src = make_source()
    configure(api, check_json, src["id"], pairs)
    got = check_json(patch_source(api, src["id"], {"sticky_window_seconds": window}), 200)
    assert got["sticky_window_seconds"] == window, got
    return src


def two_operators(make_operator, limit=10):
    return make_operator(max_load_limit=limit), make_operator(max_load_limit=limit)


# --- the field and PATCH /api/sources/{id} ---

def test_window_defaults_to_null_and_patch_sets_it(api, make_source, db_rows):
    src = make_source(description="d")
    assert set(src) == SOURCE_KEYS and src["sticky_window_seconds"] is None, src
    for window in (1, 60, 31536000):
        got = check_json(patch_source(api, src["id"], {"sticky_window_seconds": window}), 200)
        assert got == {**src, "sticky_window_seconds": window}, got
        assert get_source(api, src["id"]) == got
        assert db_window(db_rows, src["id"]) == window
    listed = [s for s in check_json(api.get("/api/sources"), 200) if s["id"] == src["id"]]
    assert listed == [got], listed
    # with the other fields, and the other fields alone leave it as it is
    got = check_json(patch_source(api, src["id"], {"sticky_window_seconds": 120, "accept_timeout_seconds": 30}), 200)
    assert (got["sticky_window_seconds"], got["accept_timeout_seconds"]) == (120, 30), got
    got = check_json(patch_source(api, src["id"], {"description": None}), 200)
    assert got["sticky_window_seconds"] == 120, got
    got = check_json(patch_source(api, src["id"], {"sticky_window_seconds": None}), 200)
    assert got["sticky_window_seconds"] is None and got["accept_timeout_seconds"] == 30, got
    assert get_source(api, src["id"]) == got and db_window(db_rows, src["id"]) is None


@pytest.mark.parametrize("body, fields", [
    ({"sticky_window_seconds": 0}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": 31536001}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": -1}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": "60"}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": True}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": 60.5}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": [60]}, {"sticky_window_seconds"}),
    ({"sticky_window_seconds": 2 ** 63}, {"sticky_window_seconds"}),
    ({"name": "", "sticky_window_seconds": 0}, {"name", "sticky_window_seconds"}),
    ({"accept_timeout_seconds": 30, "sticky_window_seconds": "60"}, {"sticky_window_seconds"}),
])
def test_window_refusals_change_nothing(api, make_source, db_rows, body, fields):
    src = make_source(description="keep")
    check_json(patch_source(api, src["id"], {"sticky_window_seconds": 600}), 200)
    before = get_source(api, src["id"])
    body422 = check_problem(patch_source(api, src["id"], body), 422, fields=fields)
    assert {e["field"] for e in body422["errors"]} == fields, body422
    assert get_source(api, src["id"]) == before
    assert db_window(db_rows, src["id"]) == 600
    assert db_rows("SELECT accept_timeout_seconds FROM sources WHERE id = %s", (src["id"],))[0][0] is None


def test_window_patch_unknown_source_is_404_and_needs_admin(base_url, api, make_source):
    check_problem(patch_source(api, MISSING_ID, {"sticky_window_seconds": 60}), 404)
    src = make_source()
    key = check_json(api.post("/api/keys", json={"name": unique("agent"), "scopes": ["agent"]}), 201)
    with ApiClient(base_url, key=key["key"]) as agent:
        check_problem(agent.patch(f"/api/sources/{src['id']}", json={"sticky_window_seconds": 60}), 403)
    assert get_source(api, src["id"])["sticky_window_seconds"] is None


# --- the intake ---

def test_returning_lead_goes_to_the_same_operator_across_sources(api, make_source, make_operator, db_rows):
    a, b = two_operators(make_operator, limit=50)
    # the first contacts come from a source per operator (a's, b's), so both operators have some
    plain = {}
    for op in (a, b):
        plain[op["id"]] = make_source()
        configure(api, check_json, plain[op["id"]]["id"], [(op["id"], 1)])
    both = make_source()
    configure(api, check_json, both["id"], [(a["id"], 1), (b["id"], 1)])
    sticky = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    for i in range(8):
        op = (a, b)[i % 2]["id"]
        email = new_email("st")
        first = post(api, check_json, plain[op]["id"], op, email=email)
        # the lead is the same whatever the case and the surrounding blanks of its address
        again = post(api, check_json, sticky["id"], op, email=f"  {email.upper()} ")
        assert again["lead_id"] == first["lead_id"], (first, again)
        [e] = entries(api, again["id"])
        assert (e["reason"], e["operator_id"], e["sticky_contact_id"], e["note"]) == \
            ("sticky", op, first["id"], None), e
        assert e["max_load_limit"] == 50 and 0 <= e["load_before"] < 50, e
        [e0] = entries(api, first["id"])
        assert (e0["reason"], e0["sticky_contact_id"]) == ("intake", None), e0
        # a third contact on a source without a window is not sticky, whatever its draw
        third = post(api, check_json, both["id"], email=email)
        assert [x["reason"] for x in entries(api, third["id"])] == ["intake"]
    assert db_rows("SELECT count(*) FROM contacts WHERE source_id = %s AND intake_sticky_of IS NOT NULL",
                   (sticky["id"],))[0][0] == 8


def test_new_lead_on_a_sticky_source_is_an_ordinary_intake(api, make_source, make_operator):
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    c = post(api, check_json, src["id"])
    [e] = entries(api, c["id"])
    assert (e["reason"], e["sticky_contact_id"], e["operator_id"]) == ("intake", None, c["operator_id"]), e


def test_fallback_when_the_operator_is_at_its_limit(api, make_source, make_operator, db_rows):
    a = make_operator(max_load_limit=1)
    b = make_operator(max_load_limit=10)
    src = sticky_source(api, make_source, [(a["id"], 1)])
    email = new_email("full")
    first = post(api, check_json, src["id"], a["id"], email=email)  # a is full now
    configure(api, check_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    second = post(api, check_json, src["id"], b["id"], email=email)
    [e] = entries(api, second["id"])
    assert (e["reason"], e["sticky_contact_id"]) == ("intake", None), e
    assert db_rows("SELECT active_contacts FROM operators WHERE id = %s", (a["id"],))[0][0] == 1
    # the most recent contact decides: now second's operator b
    check_json(api.patch(f"/api/contacts/{first['id']}", json={"status": "closed"}), 200)
    third = post(api, check_json, src["id"], b["id"], email=email)
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, third["id"])] == [("sticky", second["id"])]


@pytest.mark.parametrize("change", ["inactive", "off_shift", "not_configured"])
def test_fallback_when_the_operator_cannot_take_it(api, make_source, make_operator, change):
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1)])
    email = new_email(change)
    first = post(api, check_json, src["id"], a["id"], email=email)
    configure(api, check_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    if change == "inactive":
        set_operator(api, check_json, a["id"], is_active=False)
    elif change == "off_shift":
        day = time.strftime("%a", time.gmtime(time.time() + 2 * 86400)).lower()
        got = set_operator(api, check_json, a["id"],
                           schedule={"timezone": "UTC", "weekly": [{"day": day, "from": "00:00", "to": "01:00"}]})
        assert got["on_shift"] is False, got
    else:
        configure(api, check_json, src["id"], [(b["id"], 1)])
    second = post(api, check_json, src["id"], b["id"], email=email)
    [e] = entries(api, second["id"])
    assert (e["reason"], e["sticky_contact_id"]) == ("intake", None), (change, e)
    assert first["operator_id"] == a["id"]


def test_fallback_when_the_window_passed(api, make_source, make_operator):
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)], window=1)
    email = new_email("late")
    first = post(api, check_json, src["id"], email=email)
    time.sleep(1.3)
    second = post(api, check_json, src["id"], email=email)
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, second["id"])] == [("intake", None)]
    # a wider window (set now) covers second, which went to its operator a moment ago
    check_json(patch_source(api, src["id"], {"sticky_window_seconds": 3600}), 200)
    third = post(api, check_json, src["id"], second["operator_id"], email=email)
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, third["id"])] == [("sticky", second["id"])]
    assert first["lead_id"] == third["lead_id"]


def test_unassigned_earlier_contact_gives_the_usual_rule(api, make_source, make_operator):
    a, b = two_operators(make_operator)
    nobody = make_source()
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    email = new_email("wait")
    first = post(api, check_json, nobody["id"], None, email=email)
    second = post(api, check_json, src["id"], email=email)
    assert second["operator_id"] in (a["id"], b["id"])
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, second["id"])] == [("intake", None)]
    assert first["lead_id"] == second["lead_id"]


def test_reassigned_earlier_contact_counts_with_its_new_operator(api, make_source, make_operator):
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    email = new_email("moved")
    first = post(api, check_json, src["id"], email=email)
    other = b["id"] if first["operator_id"] == a["id"] else a["id"]
    check_json(api.patch(f"/api/contacts/{first['id']}", json={"operator_id": other}), 200)
    second = post(api, check_json, src["id"], other, email=email)
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, second["id"])] == [("sticky", first["id"])]


def test_idempotent_intake_is_sticky_and_replays(api, make_source, make_operator):
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    email = new_email("idem")
    first = post(api, check_json, src["id"], email=email)
    raw = json.dumps({"email": email, "source_id": src["id"]}, separators=(",", ":")).encode()
    key = f"k-{uuid.uuid4().hex}"
    r1 = api.post_raw("/api/contacts", raw, headers={"Idempotency-Key": key})
    body = check_json(r1, 201)
    assert body["operator_id"] == first["operator_id"], body
    assert [(x["reason"], x["sticky_contact_id"]) for x in entries(api, body["id"])] == [("sticky", first["id"])]
    r2 = api.post_raw("/api/contacts", raw, headers={"Idempotency-Key": key})
    assert r2.status_code == 201 and r2.content == r1.content, (r1.text, r2.text)
    assert r2.headers.get("Location") == f"/api/contacts/{body['id']}"


def assignments_total(client, reason):
    r = client.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    m = re.search(r'^crm_assignments_total\{reason="%s"\} (\d+)$' % reason, r.text, re.M)
    assert m, f"no crm_assignments_total{{reason={reason!r}}}"
    return int(m.group(1))


def test_sticky_intakes_are_counted_by_reason(base_url, api, make_source, make_operator):
    key = check_json(api.post("/api/keys", json={"name": unique("prom"), "scopes": ["metrics"]}), 201)
    a, b = two_operators(make_operator)
    src = sticky_source(api, make_source, [(a["id"], 1), (b["id"], 1)])
    email = new_email("count")
    with ApiClient(base_url, key=key["key"]) as prom:
        before = {r: assignments_total(prom, r) for r in ("sticky", "intake")}
        post(api, check_json, src["id"], email=email)
        post(api, check_json, src["id"], email=email)
        post(api, check_json, src["id"], email=email)
        after = {r: assignments_total(prom, r) for r in ("sticky", "intake")}
    assert (after["sticky"] - before["sticky"], after["intake"] - before["intake"]) == (2, 1), (before, after)


# --- concurrency ---

EMAILS = 6
CLIENTS = 32
POSTS = 480


@pytest.mark.load
def test_concurrent_returning_leads_never_pass_a_limit(db, per_thread):
    """Many clients post the same few emails at once to two sticky sources sharing operators
    with tight limits (on the stack's several workers); each client closes the contact it was
    given, so operators keep filling up and getting room again, and returning leads race
    for their operator's last slots with each other and with the usual draw. Every sticky take
    and every draw goes through the same conditional UPDATE: no operator is ever past its limit,
    the counters equal a recount, and every sticky entry names an earlier contact of the same
    lead and an operator configured for its source, taken below its limit."""
    tag = uuid.uuid4().hex[:8]
    rng = random.Random()
    ops = [per_thread.operator(f"sc-{tag}-{i}", rng.randint(3, 5)) for i in range(4)]
    sources = [per_thread.source(f"sc-{tag}-src-{j}", {o: rng.randint(1, 5) for o in (ops if j == 0 else ops[1:])},
                                 sticky_window_seconds=3600)
               for j in range(2)]
    emails = [f"sc-{tag}-{k}@load.test" for k in range(EMAILS)]
    results, lock = [], threading.Lock()

    def client(n):
        body = {"email": emails[n % EMAILS], "source_id": sources[n % 2]}
        try:
            r = per_thread.post("/api/contacts", body)
            item = (r.status_code, r.json() if r.content else None)
            if r.status_code == 201:  # assigned or waiting: closed, so the queue stays short
                c = per_thread.patch(f"/api/contacts/{item[1]['id']}", {"status": "closed"})
                assert c.status_code == 200, c.text
        except requests.RequestException as e:
            item = (-1, repr(e))
        with lock:
            results.append(item)

    with ThreadPoolExecutor(max_workers=CLIENTS) as ex:
        list(ex.map(client, range(POSTS)))
    statuses = {}
    for st, _ in results:
        statuses[st] = statuses.get(st, 0) + 1
    assert statuses == {201: POSTS}, statuses

    cur = db.cursor()
    cur.execute("""SELECT o.id, o.max_load_limit, o.active_contacts,
                          (SELECT count(*) FROM contacts c WHERE c.operator_id = o.id AND c.status = 'active')
                     FROM operators o WHERE o.id = ANY(%s) ORDER BY o.id""", (ops,))
    rows = cur.fetchall()
    over = [(i, lim, real) for i, lim, _, real in rows if real > lim]
    assert not over, f"operators over their limit (id, limit, active): {over}"
    drift = [(i, stored, real) for i, _, stored, real in rows if stored != real]
    assert not drift, f"stored counter differs from the real count (id, stored, real): {drift}"
    cur.execute("""SELECT count(*) FILTER (WHERE h.reason = 'sticky'),
                          count(*) FILTER (WHERE h.reason = 'sticky' AND NOT EXISTS (
                              SELECT 1 FROM contacts e JOIN contacts c ON c.id = h.contact_id
                               WHERE e.id = h.sticky_contact_id AND e.lead_id = c.lead_id AND e.id < c.id)),
                          count(*) FILTER (WHERE h.operator_id IS NOT NULL AND h.reason IN ('intake', 'sticky')
                                             AND NOT (h.load_before < h.load_limit)),
                          count(*) FILTER (WHERE h.reason = 'sticky' AND NOT EXISTS (
                              SELECT 1 FROM source_operators so
                               WHERE so.source_id = h.source_id AND so.operator_id = h.operator_id))
                     FROM assignment_history h WHERE h.source_id = ANY(%s)""", (sources,))
    sticky, bad_earlier, bad_load, bad_config = cur.fetchone()
    assert (bad_earlier, bad_load, bad_config) == (0, 0, 0), (bad_earlier, bad_load, bad_config)
    # the race was run: returning leads were given back to their operators many times
    assert sticky >= POSTS // 10, f"only {sticky} sticky decisions in {POSTS} intakes"
