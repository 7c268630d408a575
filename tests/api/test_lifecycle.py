"""Contact lifecycle: PATCH /api/contacts/{id}.

Body {"status": "closed"|"active"} and/or {"operator_id": N|null}:
- closing frees one unit of the operator's load; reopening counts again and is refused with 409
  when it would put the operator past its limit. Statuses are exactly active and closed.
- {"operator_id": N} reassigns by hand: N must be configured for the contact's source, active and
  below its limit, else 409 (with the reason); an unknown N is 422 (field operator_id).
- {"operator_id": null} returns the contact to the unassigned queue, which is drained at once: if
  someone is eligible (even the operator it just left) the contact is re-assigned immediately.
- unknown contact 404; {} 422; bad types 422. Every refusal changes nothing: the contact row,
  the operators' active_contacts and the assignment history are checked before and after.

The load of an operator (active_contacts) must always equal the real count of its active
contacts; every test checks the API, the stored column and the real count together.
Each test makes its own operators and sources.
"""

import pytest
from helpers import (CONTACT_KEYS, MISSING_ID, assert_loads, configure, patch_contact, post,
                     require_env, wait_until, waiting_ids)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


# ---------------------------------------------------------------- local helpers


def patched(api, assert_json, cid, body, **expected):
    """PATCH that must succeed; checks the answer's shape and equality with GET."""
    got = assert_json(patch_contact(api, cid, body), 200)
    assert isinstance(got, dict) and set(got) == CONTACT_KEYS, got
    assert got["id"] == cid, got
    for key, value in expected.items():
        assert got[key] == value, f"{key}: {got[key]!r} != {value!r} in {got}"
    assert assert_json(api.get(f"/api/contacts/{cid}"), 200) == got
    return got


def row(db_rows, cid):
    return db_rows("SELECT operator_id, status FROM contacts WHERE id = %s", (cid,))[0]


def history_len(db_rows, cid):
    return db_rows("SELECT count(*) FROM assignment_history WHERE contact_id = %s", (cid,))[0][0]


def state(db_rows, contact_ids, op_ids):
    """Everything a refused PATCH must leave alone."""
    contacts = {c: db_rows("SELECT lead_id, source_id, operator_id, status, created_at"
                           " FROM contacts WHERE id = %s", (c,)) for c in contact_ids}
    ops = {o: db_rows("SELECT name, is_active, max_load_limit, active_contacts"
                      " FROM operators WHERE id = %s", (o,)) for o in op_ids}
    hist = {c: history_len(db_rows, c) for c in contact_ids}
    return contacts, ops, hist


@pytest.fixture
def world(api, assert_json, make_source, make_operator):
    """A source S whose only eligible operator is A (limit 5). Also configured for S: I (inactive)
    and Z (limit 0); F (limit 1) is configured for S and already full with a contact of another
    source; N is active and free but not configured for S. c is a contact of S (necessarily
    assigned to A)."""
    src, other = make_source(), make_source()
    a = make_operator(max_load_limit=5)
    i = make_operator(max_load_limit=5, is_active=False)
    z = make_operator(max_load_limit=0)
    f = make_operator(max_load_limit=1)
    n = make_operator(max_load_limit=5)
    configure(api, assert_json, other["id"], [(f["id"], 1)])
    post(api, assert_json, other["id"], operator_id=f["id"])
    configure(api, assert_json, src["id"],
              [(a["id"], 1), (i["id"], 1000), (z["id"], 1000), (f["id"], 1000)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    return dict(src=src["id"], other=other["id"], a=a["id"], i=i["id"], z=z["id"], f=f["id"],
                n=n["id"], c=c["id"])


# ---------------------------------------------------------------- close / reopen


def test_close_frees_one_unit(api, assert_json, source_with_operator, db_rows):
    src, op = source_with_operator(max_load_limit=5)
    c1, c2, c3 = (post(api, assert_json, src["id"], operator_id=op["id"]) for _ in range(3))
    assert_loads(api, assert_json, db_rows, {op["id"]: 3})
    got = patched(api, assert_json, c2["id"], {"status": "closed"},
                  status="closed", operator_id=op["id"], lead_id=c2["lead_id"],
                  source_id=src["id"], created_at=c2["created_at"])
    assert got["status"] == "closed"
    assert row(db_rows, c2["id"]) == (op["id"], "closed")
    assert row(db_rows, c1["id"]) == (op["id"], "active")
    assert row(db_rows, c3["id"]) == (op["id"], "active")
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})


def test_close_twice_frees_only_once(api, assert_json, source_with_operator, db_rows):
    src, op = source_with_operator(max_load_limit=5)
    c1, _c2 = (post(api, assert_json, src["id"], operator_id=op["id"]) for _ in range(2))
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed",
            operator_id=op["id"])
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})


def test_reopen_counts_again(api, assert_json, source_with_operator, db_rows):
    src, op = source_with_operator(max_load_limit=3)
    c1, _c2 = (post(api, assert_json, src["id"], operator_id=op["id"]) for _ in range(2))
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})
    patched(api, assert_json, c1["id"], {"status": "active"}, status="active",
            operator_id=op["id"])
    assert row(db_rows, c1["id"]) == (op["id"], "active")
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})
    # reopening an active contact changes nothing
    patched(api, assert_json, c1["id"], {"status": "active"}, status="active",
            operator_id=op["id"])
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})
    # the limit still holds: one more contact fills it, the next waits
    post(api, assert_json, src["id"], operator_id=op["id"])
    post(api, assert_json, src["id"], operator_id=None)
    assert_loads(api, assert_json, db_rows, {op["id"]: 3})


def test_reopen_past_limit_is_409(api, assert_json, assert_problem, source_with_operator, db_rows):
    """limit 1: c1 closed, c2 takes the free slot, reopening c1 would make 2 > 1 -> 409."""
    src, op = source_with_operator(max_load_limit=1)
    c1 = post(api, assert_json, src["id"], operator_id=op["id"])
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    c2 = post(api, assert_json, src["id"], operator_id=op["id"])
    before = state(db_rows, [c1["id"], c2["id"]], [op["id"]])
    assert_problem(patch_contact(api, c1["id"], {"status": "active"}), 409)
    assert state(db_rows, [c1["id"], c2["id"]], [op["id"]]) == before
    assert row(db_rows, c1["id"]) == (op["id"], "closed")
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})


def test_reopen_after_limit_lowered_is_409(api, assert_json, assert_problem, source_with_operator,
                                           db_rows):
    src, op = source_with_operator(max_load_limit=3)
    c1, c2 = (post(api, assert_json, src["id"], operator_id=op["id"]) for _ in range(2))
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    assert_json(api.patch(f"/api/operators/{op['id']}", json={"max_load_limit": 1}), 200)
    before = state(db_rows, [c1["id"], c2["id"]], [op["id"]])
    assert_problem(patch_contact(api, c1["id"], {"status": "active"}), 409)
    assert state(db_rows, [c1["id"], c2["id"]], [op["id"]]) == before
    # with room again, the same request succeeds
    assert_json(api.patch(f"/api/operators/{op['id']}", json={"max_load_limit": 2}), 200)
    patched(api, assert_json, c1["id"], {"status": "active"}, status="active",
            operator_id=op["id"])
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})


def test_close_unassigned_contact(api, assert_json, make_source, db_rows):
    """An unassigned contact can be closed; it then no longer waits."""
    src = make_source()
    c = post(api, assert_json, src["id"], operator_id=None)
    patched(api, assert_json, c["id"], {"status": "closed"}, status="closed", operator_id=None)
    assert row(db_rows, c["id"]) == (None, "closed")
    assert c["id"] not in waiting_ids(db_rows, src["id"])


@pytest.mark.parametrize("raw", [
    '"open"', '"Closed"', '"ACTIVE"', '""', '" closed"', '"closed "', '"deleted"', "null", "5",
    "true", "[]", '{"v":"closed"}', '["closed"]',
])
def test_bad_status_is_422(api, assert_json, assert_problem, source_with_operator, db_rows, raw):
    src, op = source_with_operator(max_load_limit=5)
    c = post(api, assert_json, src["id"], operator_id=op["id"])
    before = state(db_rows, [c["id"]], [op["id"]])
    assert_problem(api.patch_raw(f"/api/contacts/{c['id']}", '{"status":' + raw + "}"), 422,
                   {"status"})
    assert state(db_rows, [c["id"]], [op["id"]]) == before
    assert_loads(api, assert_json, db_rows, {op["id"]: 1})


# ---------------------------------------------------------------- body / protocol refusals


@pytest.mark.parametrize("raw", ["{}", '{"foo":1}', '{"Status":"closed"}', '{"operatorId":1}'])
def test_body_without_known_field_is_422(api, assert_json, assert_problem, world, db_rows, raw):
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    assert_problem(api.patch_raw(f"/api/contacts/{w['c']}", raw), 422)
    assert state(db_rows, [w["c"]], [w["a"]]) == before


@pytest.mark.parametrize("raw", ['[{"status":"closed"}]', '"closed"', "5", "null", "true"])
def test_top_level_not_object_is_422(api, assert_problem, world, db_rows, raw):
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    assert_problem(api.patch_raw(f"/api/contacts/{w['c']}", raw), 422)
    assert state(db_rows, [w["c"]], [w["a"]]) == before


def test_malformed_json_is_400(api, assert_problem, world, db_rows):
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    assert_problem(api.patch_raw(f"/api/contacts/{w['c']}", '{"status":"closed"'), 400)
    assert_problem(api.patch_raw(f"/api/contacts/{w['c']}", ""), 400)
    assert state(db_rows, [w["c"]], [w["a"]]) == before


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(api, assert_problem, world, db_rows, ctype):
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    resp = api.patch_raw(f"/api/contacts/{w['c']}", '{"status":"closed"}', content_type=ctype)
    assert_problem(resp, 415)
    assert state(db_rows, [w["c"]], [w["a"]]) == before


@pytest.mark.parametrize("body", [{"status": "closed"}, {"status": "active"},
                                  {"operator_id": None}, {"operator_id": 1}])
def test_unknown_contact_is_404(api, assert_problem, db_count, body):
    before = db_count("contacts"), db_count("assignments")
    assert_problem(patch_contact(api, MISSING_ID, body), 404)
    assert (db_count("contacts"), db_count("assignments")) == before


@pytest.mark.parametrize("path", ["/api/contacts/abc", "/api/contacts/-1", "/api/contacts/1.0",
                                  "/api/contacts/1/"])
def test_bad_contact_path_is_404(api, assert_problem, path):
    assert_problem(api.patch(path, json={"status": "closed"}), 404)


def test_put_contact_is_405_with_allow(api, assert_problem, world):
    resp = api.put(f"/api/contacts/{world['c']}", json={"status": "closed"})
    assert_problem(resp, 405)
    allowed = {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
    assert {"GET", "PATCH"} <= allowed, allowed
    assert allowed - {"GET", "PATCH"} <= {"HEAD", "OPTIONS"}, allowed


# ---------------------------------------------------------------- manual reassignment


def test_manual_reassign(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a = make_operator(max_load_limit=5)
    b = make_operator(max_load_limit=2, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    c1, c2 = (post(api, assert_json, src["id"], operator_id=a["id"]) for _ in range(2))
    assert_json(api.patch(f"/api/operators/{b['id']}", json={"is_active": True}), 200)
    patched(api, assert_json, c1["id"], {"operator_id": b["id"]},
            operator_id=b["id"], status="active", source_id=src["id"], lead_id=c1["lead_id"])
    assert row(db_rows, c1["id"]) == (b["id"], "active")
    assert_loads(api, assert_json, db_rows, {a["id"]: 1, b["id"]: 1})
    patched(api, assert_json, c2["id"], {"operator_id": b["id"]}, operator_id=b["id"])
    assert_loads(api, assert_json, db_rows, {a["id"]: 0, b["id"]: 2})
    # and back
    patched(api, assert_json, c1["id"], {"operator_id": a["id"]}, operator_id=a["id"])
    assert_loads(api, assert_json, db_rows, {a["id"]: 1, b["id"]: 1})


def test_manual_move_after_drain(api, assert_json, source_with_operator, make_operator, db_rows):
    """A waiting contact is drained to b when b is activated; once a has room again (its contact
    closed) the contact can be moved to a by hand."""
    src, a = source_with_operator(max_load_limit=1)
    first = post(api, assert_json, src["id"], operator_id=a["id"])
    waiting = post(api, assert_json, src["id"], operator_id=None)
    b = make_operator(max_load_limit=1, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    assert_json(api.patch(f"/api/operators/{b['id']}", json={"is_active": True}), 200)
    # activating b drained the queue: the waiting contact went to b, the only one with room
    assert row(db_rows, waiting["id"]) == (b["id"], "active")
    patched(api, assert_json, first["id"], {"status": "closed"}, status="closed")
    # a has room now; give b's contact to a by hand
    patched(api, assert_json, waiting["id"], {"operator_id": a["id"]}, operator_id=a["id"])
    assert_loads(api, assert_json, db_rows, {a["id"]: 1, b["id"]: 0})


def test_reassign_to_same_operator_changes_nothing(api, assert_json, world, db_rows):
    w = world
    patched(api, assert_json, w["c"], {"operator_id": w["a"]}, operator_id=w["a"],
            status="active")
    assert_loads(api, assert_json, db_rows, {w["a"]: 1})


@pytest.mark.parametrize("target", ["n", "i", "z", "f"],
                         ids=["not-configured", "inactive", "limit-0", "at-limit"])
def test_reassign_refused_409(api, assert_json, assert_problem, world, db_rows, target):
    w = world
    ops = [w[k] for k in ("a", "i", "z", "f", "n")]
    before = state(db_rows, [w["c"]], ops)
    body = assert_problem(patch_contact(api, w["c"], {"operator_id": w[target]}), 409)
    assert body["detail"].strip(), body
    assert state(db_rows, [w["c"]], ops) == before
    assert row(db_rows, w["c"]) == (w["a"], "active")
    assert_loads(api, assert_json, db_rows, {w["a"]: 1, w["i"]: 0, w["z"]: 0, w["f"]: 1,
                                             w["n"]: 0})


def test_reassign_refusals_state_different_reasons(api, assert_problem, world):
    """'else 409 with the reason': not configured, inactive and at limit are told apart."""
    w = world
    details = [assert_problem(patch_contact(api, w["c"], {"operator_id": w[k]}), 409)["detail"]
               for k in ("n", "i", "f")]
    assert len(set(details)) == 3, details


def test_reassign_with_reopen_past_limit_is_409(api, assert_json, assert_problem, world,
                                                db_rows):
    """Moving a contact and reopening it in one PATCH still respects the target's limit."""
    w = world
    patched(api, assert_json, w["c"], {"status": "closed"}, status="closed")
    ops = [w["a"], w["f"]]
    before = state(db_rows, [w["c"]], ops)
    assert_problem(patch_contact(api, w["c"], {"status": "active", "operator_id": w["f"]}), 409)
    assert state(db_rows, [w["c"]], ops) == before


def test_unknown_operator_is_422(api, assert_json, assert_problem, world, db_rows):
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    assert_problem(patch_contact(api, w["c"], {"operator_id": MISSING_ID}), 422, {"operator_id"})
    assert state(db_rows, [w["c"]], [w["a"]]) == before


@pytest.mark.parametrize("raw", ['"{b}"', "1.5", "{b}.0", "{b}e0", "true", "0", "-1", "[{b}]",
                                 '{{"id":{b}}}', '""'])
def test_bad_operator_id_is_422(api, assert_json, assert_problem, make_source, make_operator,
                                db_rows, raw):
    """Bad types (or ids no operator can have) where operator_id belongs -> 422, no change; the
    value is built from a valid target operator's id, so only its type is wrong."""
    src = make_source()
    a = make_operator(max_load_limit=5)
    b = make_operator(max_load_limit=5, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    assert_json(api.patch(f"/api/operators/{b['id']}", json={"is_active": True}), 200)
    before = state(db_rows, [c["id"]], [a["id"], b["id"]])
    body = '{"operator_id":' + raw.format(b=b["id"]) + "}"
    assert_problem(api.patch_raw(f"/api/contacts/{c['id']}", body), 422, {"operator_id"})
    assert state(db_rows, [c["id"]], [a["id"], b["id"]]) == before


def test_bad_field_makes_whole_patch_fail(api, assert_json, assert_problem, world, db_rows):
    """A valid status next to a bad operator_id: nothing is applied (the contact stays open)."""
    w = world
    before = state(db_rows, [w["c"]], [w["a"]])
    assert_problem(patch_contact(api, w["c"], {"status": "closed", "operator_id": "x"}), 422,
                   {"operator_id"})
    assert_problem(patch_contact(api, w["c"], {"status": "closed", "operator_id": MISSING_ID}), 422,
                   {"operator_id"})
    assert_problem(patch_contact(api, w["c"], {"status": "shut", "operator_id": None}), 422, {"status"})
    assert_problem(patch_contact(api, w["c"], {"status": 5, "operator_id": "x"}), 422,
                   {"status", "operator_id"})
    assert state(db_rows, [w["c"]], [w["a"]]) == before


# ---------------------------------------------------------------- unassign by hand


def test_unassign_reassigns_to_same_operator_when_it_is_eligible(api, assert_json,
                                                                 source_with_operator, db_rows):
    """The queue is drained at once: the only eligible operator is the one it just left."""
    src, a = source_with_operator(max_load_limit=3)
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    patched(api, assert_json, c["id"], {"operator_id": None}, operator_id=a["id"],
            status="active")
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_unassign_with_nobody_eligible_stays_unassigned(api, assert_json, source_with_operator,
                                                        db_rows):
    src, a = source_with_operator(max_load_limit=3)
    c1, c2 = (post(api, assert_json, src["id"], operator_id=a["id"]) for _ in range(2))
    assert_json(api.patch(f"/api/operators/{a['id']}", json={"is_active": False}), 200)
    patched(api, assert_json, c1["id"], {"operator_id": None}, operator_id=None, status="active")
    assert row(db_rows, c1["id"]) == (None, "active")
    assert waiting_ids(db_rows, src["id"]) == [c1["id"]]
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})
    assert row(db_rows, c2["id"]) == (a["id"], "active")  # its other contact stays


def test_unassign_goes_to_the_eligible_operator(api, assert_json, make_source, make_operator,
                                                db_rows):
    """a (now inactive) held the contact; b is the only eligible operator, so it gets it."""
    src = make_source()
    a = make_operator(max_load_limit=3)
    b = make_operator(max_load_limit=3)
    configure(api, assert_json, src["id"], [(a["id"], 1)])
    c = post(api, assert_json, src["id"], operator_id=a["id"])
    assert_json(api.patch(f"/api/operators/{a['id']}", json={"is_active": False}), 200)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 1)])
    assert row(db_rows, c["id"]) == (a["id"], "active")
    patched(api, assert_json, c["id"], {"operator_id": None}, operator_id=b["id"],
            status="active")
    assert_loads(api, assert_json, db_rows, {a["id"]: 0, b["id"]: 1})


def test_unassign_closed_contact(api, assert_json, source_with_operator, db_rows):
    """A closed contact can be taken from its operator; it stays closed and does not wait, and
    the operator's load (which did not count it) does not change."""
    src, a = source_with_operator(max_load_limit=3)
    c1, _c2 = (post(api, assert_json, src["id"], operator_id=a["id"]) for _ in range(2))
    patched(api, assert_json, c1["id"], {"status": "closed"}, status="closed")
    patched(api, assert_json, c1["id"], {"operator_id": None}, operator_id=None, status="closed")
    assert row(db_rows, c1["id"]) == (None, "closed")
    assert waiting_ids(db_rows, src["id"]) == []
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_reopen_unassigned_contact_joins_the_queue(api, assert_json, make_source, make_operator,
                                                   db_rows):
    """A closed unassigned contact is not waiting: configuring an operator leaves it alone.
    Reopened, it waits again and is assigned (at once, or by the drainer's sweep)."""
    src = make_source()
    c = post(api, assert_json, src["id"], operator_id=None)
    patched(api, assert_json, c["id"], {"status": "closed"}, status="closed")
    a = make_operator(max_load_limit=3)
    configure(api, assert_json, src["id"], [(a["id"], 1)])
    assert row(db_rows, c["id"]) == (None, "closed")
    assert_loads(api, assert_json, db_rows, {a["id"]: 0})
    patched(api, assert_json, c["id"], {"status": "active"}, status="active")
    assert wait_until(lambda: row(db_rows, c["id"]) == (a["id"], "active"), 15), (
        f"reopened contact still {row(db_rows, c['id'])}")
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})
