"""Accept or lose it (issue 13): a source's accept_timeout_seconds, PATCH /api/sources/{id},
a contact's accepted_at and its acceptance, and the timeout the drainer's timer fires.

The timer tests measure against the database's own clock: the deadline is the moment of the
latest assignment (its history row) plus the timeout, and the timeout's history row says when
it fired.
"""

import re
import threading
import time

import pytest
from helpers import (MISSING_ID, SOURCE_KEYS, LogTail, assert_loads, check_problem, configure, crm_log_path, post,
                     require_env, unique, wait_until)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def get_source(api, assert_json, source_id):
    return assert_json(api.get(f"/api/sources/{source_id}"), 200)


def patch_source(api, source_id, body):
    return api.patch(f"/api/sources/{source_id}", json=body)


def history(db_rows, contact_id):
    """(reason, operator_id, note, created_at) of every assignment row of the contact, in order."""
    return db_rows("SELECT reason, operator_id, note, created_at FROM assignments WHERE contact_id = %s ORDER BY id",
                   (contact_id,))


def assigned_at(db_rows, contact_id):
    """When the contact got its current operator: its latest history row, or its intake."""
    rows = db_rows("SELECT created_at FROM assignments WHERE contact_id = %s ORDER BY id DESC LIMIT 1", (contact_id,))
    return rows[0][0] if rows else db_rows("SELECT created_at FROM contacts WHERE id = %s", (contact_id,))[0][0]


# --- the source's field and PATCH /api/sources/{id} ---

def test_source_timeout_defaults_to_null_and_patch_sets_each_field(api, assert_json, make_source):
    src = make_source(description="d")
    assert set(src) == SOURCE_KEYS and src["accept_timeout_seconds"] is None, src
    got = assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 5}), 200)
    assert got == {**src, "accept_timeout_seconds": 5}, got
    got = assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 86400}), 200)
    assert got["accept_timeout_seconds"] == 86400, got
    name = unique("renamed")
    got = assert_json(patch_source(api, src["id"], {"name": name, "description": None}), 200)
    assert got == {**src, "name": name, "description": None, "accept_timeout_seconds": 86400}, got
    got = assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": None}), 200)
    assert got["accept_timeout_seconds"] is None and got["name"] == name, got
    assert get_source(api, assert_json, src["id"]) == got
    listed = [s for s in assert_json(api.get("/api/sources"), 200) if s["id"] == src["id"]]
    assert listed == [got], listed
    check_problem(patch_source(api, src["id"], {}), 422, fields={"body"})
    assert get_source(api, assert_json, src["id"]) == got


@pytest.mark.parametrize("body, fields", [
    ({"accept_timeout_seconds": 4}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": 86401}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": 0}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": -5}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": "10"}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": 10.5}, {"accept_timeout_seconds"}),
    ({"accept_timeout_seconds": True}, {"accept_timeout_seconds"}),
    ({"name": ""}, {"name"}),
    ({"name": None}, {"name"}),
    ({"name": "n" * 201}, {"name"}),
    ({"description": "d" * 2001}, {"description"}),
    ({"name": 5, "accept_timeout_seconds": 3}, {"name", "accept_timeout_seconds"}),
])
def test_source_patch_refusals_change_nothing(api, assert_json, make_source, body, fields):
    src = make_source(description="keep")
    assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 30}), 200)
    before = get_source(api, assert_json, src["id"])
    check_problem(patch_source(api, src["id"], body), 422, fields=fields)
    assert get_source(api, assert_json, src["id"]) == before


def test_source_patch_unknown_is_404_and_taken_name_409(api, assert_json, make_source):
    check_problem(patch_source(api, MISSING_ID, {"accept_timeout_seconds": 5}), 404)
    a, b = make_source(), make_source()
    before = get_source(api, assert_json, b["id"])
    check_problem(patch_source(api, b["id"], {"name": a["name"], "accept_timeout_seconds": 5}), 409)
    check_problem(patch_source(api, b["id"], {"name": a["name"].upper()}), 409)  # names fold as POST's do
    assert get_source(api, assert_json, b["id"]) == before


def test_source_patch_needs_admin(base_url, api, assert_json, make_source):
    from helpers import ApiClient
    src = make_source()
    key = assert_json(api.post("/api/keys", json={"name": unique("agent"), "scopes": ["agent"]}), 201)
    with ApiClient(base_url, key=key["key"]) as agent:
        check_problem(agent.patch(f"/api/sources/{src['id']}", json={"accept_timeout_seconds": 5}), 403)
    assert get_source(api, assert_json, src["id"])["accept_timeout_seconds"] is None


# --- accepting a contact ---

def test_accept_sets_accepted_at_once(api, assert_json, source_with_operator, db_rows):
    src, op = source_with_operator()
    c = post(api, assert_json, src["id"], op["id"])
    assert c["accepted_at"] is None, c
    got = assert_json(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True}), 200)
    assert got["accepted_at"] is not None and got["operator_id"] == op["id"], got
    assert {k: v for k, v in got.items() if k != "accepted_at"} == {k: v for k, v in c.items() if k != "accepted_at"}
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == got
    check_problem(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True}), 409)
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == got
    assert [r[0] for r in history(db_rows, c["id"])] == []  # an acceptance is no assignment
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})


def test_accept_with_operator_is_a_precondition(api, assert_json, source_with_operator, make_operator):
    src, op = source_with_operator()
    other = make_operator()
    c = post(api, assert_json, src["id"], op["id"])
    body = check_problem(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True, "operator_id": other["id"]}),
                         409)
    assert str(other["id"]) in body["detail"], body
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == c
    got = assert_json(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True, "operator_id": op["id"]}), 200)
    assert got["accepted_at"] is not None and got["operator_id"] == op["id"], got


def test_accept_refused_when_unassigned_or_closed(api, assert_json, make_source, source_with_operator, db_rows):
    lonely = make_source()
    waiting = post(api, assert_json, lonely["id"], None)
    check_problem(api.patch(f"/api/contacts/{waiting['id']}", json={"accepted": True}), 409)
    assert assert_json(api.get(f"/api/contacts/{waiting['id']}"), 200) == waiting
    src, op = source_with_operator()
    c = post(api, assert_json, src["id"], op["id"])
    closed = assert_json(api.patch(f"/api/contacts/{c['id']}", json={"status": "closed"}), 200)
    check_problem(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True}), 409)
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == closed
    check_problem(api.patch(f"/api/contacts/{MISSING_ID}", json={"accepted": True}), 404)
    assert_loads(api, assert_json, db_rows, {op["id"]: 0})


@pytest.mark.parametrize("body, fields", [
    ({"accepted": False}, {"accepted"}),
    ({"accepted": "yes"}, {"accepted"}),
    ({"accepted": None}, {"accepted"}),
    ({"accepted": 1}, {"accepted"}),
    ({"accepted": True, "status": "closed"}, {"status"}),
    ({"accepted": True, "status": "active"}, {"status"}),
    ({"accepted": True, "operator_id": None}, {"operator_id"}),
    ({"accepted": False, "status": "closed"}, {"accepted", "status"}),
])
def test_accept_body_refusals_change_nothing(api, assert_json, source_with_operator, body, fields):
    src, op = source_with_operator()
    c = post(api, assert_json, src["id"], op["id"])
    check_problem(api.patch(f"/api/contacts/{c['id']}", json=body), 422, fields=fields)
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == c


def test_reassignment_resets_accepted_at(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a, b = make_operator(), make_operator()
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    c = post(api, assert_json, src["id"])
    first = c["operator_id"]
    other = b["id"] if first == a["id"] else a["id"]
    assert assert_json(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True}), 200)["accepted_at"]
    got = assert_json(api.patch(f"/api/contacts/{c['id']}", json={"operator_id": other}), 200)
    assert got["operator_id"] == other and got["accepted_at"] is None, got
    # closing and reopening with the same operator keeps an acceptance
    assert assert_json(api.patch(f"/api/contacts/{c['id']}", json={"accepted": True}), 200)["accepted_at"]
    assert_json(api.patch(f"/api/contacts/{c['id']}", json={"status": "closed"}), 200)
    got = assert_json(api.patch(f"/api/contacts/{c['id']}", json={"status": "active"}), 200)
    assert got["accepted_at"] is not None, got
    assert_loads(api, assert_json, db_rows, {a["id"]: int(other == a["id"]), b["id"]: int(other == b["id"])})


# --- the timeout ---

def timeout_rows(db_rows, contact_id):
    return [r for r in history(db_rows, contact_id) if r[0] == "timeout"]


@pytest.mark.slow
@pytest.mark.deadline
def test_timeout_fires_within_a_second_and_excludes_lapsed_operators(api, assert_json, make_source, make_operator,
                                                                     db_rows):
    """Two operators, a 5 s timeout: the contact goes to the other operator within a second of
    its deadline, then, when that one lets it lapse too, waits in the queue; capacity appearing at
    either of them does not bring it back; a third operator configured gets it."""
    src = make_source()
    a, b = make_operator(max_load_limit=5), make_operator(max_load_limit=5)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 5}), 200)
    c = post(api, assert_json, src["id"])
    first = c["operator_id"]
    second = b["id"] if first == a["id"] else a["id"]
    late = []
    for lapsing, next_op in ((first, second), (second, None)):
        due = db_rows("SELECT accept_deadline FROM contacts WHERE id = %s", (c["id"],))[0][0].timestamp()
        assert abs(due - (assigned_at(db_rows, c["id"]).timestamp() + 5)) < 0.1, due
        n = len(timeout_rows(db_rows, c["id"]))
        wait_until(lambda: len(timeout_rows(db_rows, c["id"])) > n, due - time.time() + 3, "the timeout")
        reason, op_id, note, at = timeout_rows(db_rows, c["id"])[-1]
        late.append(at.timestamp() - due)
        assert op_id == next_op and f"operator {lapsing} let it lapse" in note, (op_id, note)
        got = assert_json(api.get(f"/api/contacts/{c['id']}"), 200)
        assert got["operator_id"] == next_op and got["accepted_at"] is None, got
        assert_loads(api, assert_json, db_rows, {first: 0, second: int(next_op == second)})
    print(f"timeout lateness after the deadline: {', '.join(f'{x * 1000:.0f} ms' for x in late)}")
    assert all(0 <= x < 1.0 for x in late), late
    # the exclusion is this contact's: a new contact goes to a or b; closing it frees that
    # operator's slot and drains its sources, and the lapsed contact still waits
    fresh = post(api, assert_json, src["id"])
    assert fresh["operator_id"] in (a["id"], b["id"]), fresh
    assert_json(api.patch(f"/api/contacts/{fresh['id']}", json={"status": "closed"}), 200)
    assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": None}), 200)
    time.sleep(0.3)
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200)["operator_id"] is None
    # a third operator configured: the queue is drained to it
    third = make_operator(max_load_limit=5)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1), (third["id"], 1)])
    got = wait_until(lambda: assert_json(api.get(f"/api/contacts/{c['id']}"), 200)["operator_id"], 5,
                     "the waiting contact assigned to the third operator")
    assert got == third["id"]
    assert history(db_rows, c["id"])[-1][:2] == ("backlog", third["id"])
    assert_loads(api, assert_json, db_rows, {a["id"]: 0, b["id"]: 0, third["id"]: 1})


@pytest.mark.slow
def test_accept_racing_the_timeout_exactly_one_wins(base_url, api, assert_json, make_source, make_operator,
                                                    db_rows):
    """Many contacts on a 5 s source, each accepted (naming its operator) at a moment spread
    around its deadline: each contact is either accepted by that operator and never timed out,
    or timed out once and the accept refused (409); never both; the counters stay exact."""
    src = make_source()
    ops = [make_operator(max_load_limit=100) for _ in range(3)]
    configure(api, assert_json, src["id"], [(o["id"], 1) for o in ops])
    assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 5}), 200)
    n = 40
    contacts = [post(api, assert_json, src["id"]) for _ in range(n)]
    dues = dict(db_rows("SELECT id, extract(epoch FROM accept_deadline)::float8 FROM contacts WHERE id = ANY(%s)",
                        ([c["id"] for c in contacts],)))
    results = {}
    from helpers import ApiClient

    def accept(i, c):
        offset = -0.1 + 0.2 * i / (n - 1)  # from 100 ms before the deadline to 100 ms after
        with ApiClient(base_url) as client:
            client.get("/api/sources")  # the connection open beforehand
            delay = dues[c["id"]] + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            results[c["id"]] = client.patch(f"/api/contacts/{c['id']}",
                                            json={"accepted": True, "operator_id": c["operator_id"]})

    threads = [threading.Thread(target=accept, args=(i, c)) for i, c in enumerate(contacts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    time.sleep(1.5)  # every deadline passed and the timer ran
    won = lapsed = 0
    for c in contacts:
        resp = results[c["id"]]
        got = assert_json(api.get(f"/api/contacts/{c['id']}"), 200)
        timeouts = timeout_rows(db_rows, c["id"])
        if resp.status_code == 200:
            won += 1
            assert timeouts == [] and got["accepted_at"] is not None and got["operator_id"] == c["operator_id"], (
                got, timeouts)
        else:
            lapsed += 1
            check_problem(resp, 409)
            assert len(timeouts) == 1 and f"operator {c['operator_id']} let it lapse" in timeouts[0][2], timeouts
            assert got["operator_id"] != c["operator_id"] and got["accepted_at"] is None, got
    print(f"accept vs timeout race, {n} contacts: accept won {won}, timeout won {lapsed}")
    real = {o["id"]: db_rows("SELECT count(*) FROM contacts WHERE operator_id = %s AND status = 'active'",
                             (o["id"],))[0][0] for o in ops}
    assert_loads(api, assert_json, db_rows, real)
    assert sum(real.values()) == n


@pytest.mark.slow
def test_chaos_with_timeouts_and_accepts_keeps_limits_and_counters(db, per_thread):
    """The concurrency promise with accept timeouts firing and schedules switching: for 9 s, 16
    threads take contacts in on two 5 s sources sharing six small operators, accept, close,
    reopen, reassign them, change limits and switch operators on and off shift (a schedule that
    covers now, one that does not, none), while the timer takes unaccepted contacts away. No assignment at or over the
    limit (the history, timeouts included), every counter exact, every timeout names the
    operator that held the contact, and no contact is ever offered again to one that let it lapse."""
    import random
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from test_concurrency import history_violations
    from test_working_hours import ahead, covering

    tag = uuid.uuid4().hex[:8]
    rng = random.Random()
    ops = [per_thread.operator(f"ac-{tag}-{i}", rng.randint(2, 5)) for i in range(6)]
    sources = [per_thread.source(f"ac-{tag}-src-{i}", {o: rng.randint(1, 5) for o in ops}, accept_timeout_seconds=5)
               for i in range(2)]
    created, lock, statuses = [], threading.Lock(), {}
    stop = time.monotonic() + 9

    def one(n):
        while time.monotonic() < stop:
            roll = rng.random()
            try:
                if roll < 0.3 or not created:
                    kind = "intake"
                    r = per_thread.post("/api/contacts", {"email": f"ac-{tag}-{n}-{rng.random()}@load.test",
                                                          "source_id": rng.choice(sources)})
                    if r.status_code == 201:
                        with lock:
                            created.append(r.json()["id"])
                else:
                    with lock:
                        cid = rng.choice(created)
                    if roll < 0.55:
                        kind, r = "accept", per_thread.patch(f"/api/contacts/{cid}", {"accepted": True})
                    elif roll < 0.7:
                        kind, r = "close", per_thread.patch(f"/api/contacts/{cid}", {"status": "closed"})
                    elif roll < 0.8:
                        kind, r = "reopen", per_thread.patch(f"/api/contacts/{cid}", {"status": "active"})
                    elif roll < 0.88:
                        kind, r = "reassign", per_thread.patch(f"/api/contacts/{cid}", {"operator_id": rng.choice(ops)})
                    elif roll < 0.94:
                        kind, r = "limit", per_thread.patch(f"/api/operators/{rng.choice(ops)}",
                                                            {"max_load_limit": rng.randint(1, 5)})
                    else:  # schedules switching: on shift now, off shift now, or none
                        kind, r = "shift", per_thread.patch(f"/api/operators/{rng.choice(ops)}",
                                                            {"schedule": rng.choice([covering(), ahead(), None])})
            except requests.RequestException:
                kind, r = "error", None
            with lock:
                key = (kind, r.status_code if r is not None else -1)
                statuses[key] = statuses.get(key, 0) + 1
            time.sleep(0.01)

    with ThreadPoolExecutor(max_workers=16) as ex:
        list(ex.map(one, range(16)))
    time.sleep(1.5)  # the timer catches up with the deadlines of the last seconds
    bad = {k: v for k, v in statuses.items() if k[1] not in (200, 201, 409)}
    assert not bad, f"unexpected statuses: {bad} (all: {statuses})"
    cur = db.cursor()
    violations = history_violations(cur, sources)
    assert not violations, f"assignments made at or over the limit: {violations[:10]}"
    cur.execute("""SELECT o.id, o.active_contacts,
                          (SELECT count(*) FROM contacts c WHERE c.operator_id = o.id AND c.status = 'active')
                     FROM operators o WHERE o.id = ANY(%s)""", (ops,))
    drift = [row for row in cur.fetchall() if row[1] != row[2]]
    assert not drift, f"stored counter differs from the real count (id, stored, real): {drift}"
    # every timeout took the contact from the operator that held it just before
    cur.execute("""SELECT h.contact_id, h.note, lag(h.operator_id) OVER (PARTITION BY h.contact_id ORDER BY h.id)
                     FROM assignment_history h WHERE h.source_id = ANY(%s)""", (sources,))
    rows = cur.fetchall()
    timeouts = [(c, note, prev) for c, note, prev in rows if note and "let it lapse" in note]
    wrong = [t for t in timeouts if t[1].split()[1] != str(t[2])]
    assert not wrong, f"timeouts naming another operator than the holder: {wrong[:10]}"
    # no distribution offered a contact to an operator in its lapsed set at that moment
    cur.execute("""SELECT h.contact_id, h.operator_id FROM assignment_history h
                    WHERE h.source_id = ANY(%s) AND h.reason IN ('backlog', 'timeout') AND h.operator_id IS NOT NULL
                      AND EXISTS (SELECT 1 FROM assignment_history t
                                   WHERE t.contact_id = h.contact_id AND t.reason = 'timeout' AND t.id <= h.id
                                     AND t.note LIKE 'operator ' || h.operator_id || ' let it lapse%%')""", (sources,))
    again = cur.fetchall()
    assert not again, f"a contact offered again to an operator that let it lapse: {again[:10]}"
    print(f"chaos with timeouts: {len(created)} contacts, {len(timeouts)} timeouts, statuses {sorted(statuses.items())}")
    assert len(timeouts) > 0 and statuses.get(("accept", 200), 0) > 0, statuses
    assert statuses.get(("shift", 200), 0) > 0, statuses


@pytest.mark.slow
def test_a_burst_of_deadlines_is_taken_in_passes(api, assert_json, make_source, make_operator, db, db_rows):
    """150 contacts whose deadlines fall at one moment: the drainer takes them in passes of at
    most 64 (src/service_backlog.c, TIMER_BURST), so the shift timer and the drain run between
    the passes instead of after the whole burst. Its log line per pass says how many it took."""
    src = make_source()
    op = make_operator(max_load_limit=1000)
    configure(api, assert_json, src["id"], [(op["id"], 1)])
    assert_json(patch_source(api, src["id"], {"accept_timeout_seconds": 60}), 200)
    ids = [post(api, assert_json, src["id"], op["id"])["id"] for _ in range(150)]
    log = LogTail(crm_log_path())
    with db.cursor() as cur:  # one moment for all, a second from now; the wake-up replans the timer
        cur.execute("UPDATE contacts SET accept_deadline = now() + interval '1 second' WHERE id = ANY(%s)", (ids,))
        cur.execute("NOTIFY crm_backlog")
    wait_until(lambda: db_rows("SELECT count(*) FROM contacts WHERE id = ANY(%s) AND operator_id IS NULL",
                               (ids,))[0][0] == len(ids), 20, "the 150 contacts timed out")

    def logged():  # the drainer logs a pass's line once the pass has taken its contacts
        return [int(n) for n in re.findall(rb"accept timeouts: (\d+) contacts", log.read())]

    passes = wait_until(lambda: sum(logged()) >= len(ids) and logged(), 5) or logged()
    assert sum(passes) >= len(ids) and max(passes) <= 64 and len(passes) >= 3, passes
    assert_loads(api, assert_json, db_rows, {op["id"]: 0})
