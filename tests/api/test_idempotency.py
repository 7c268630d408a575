"""Idempotency-Key on every POST: a retry never does the work twice.

Issue 10: a POST with an Idempotency-Key (1 to 255 visible ASCII characters) is processed once;
its status, Location and body are stored in the same transaction as its work, and the same key
with the same request again gets that answer replayed with `Idempotent-Replayed: true` and
creates nothing. The same key with another request is 422, while the first still runs 409, a
malformed key 400. A request that failed stores nothing, so its retry is processed anew. Keys
expire after CRM_IDEMPOTENCY_TTL (24 h): a key older than that is new again, and the drainer's
sweep deletes it. POST /api/contacts keeps its key on the contact (contacts.idem_hash, migrations
0011 and 0016), the other POSTs in idempotency_keys.
"""
import hashlib
import json
import threading
import uuid

import pytest
import requests
from helpers import (MISSING_ID, api_key, check_json, check_problem, configure, keyed_session, new_email,
                     require_env, unique, wait_until)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

REPLAYED = "Idempotent-Replayed"


def key():
    return f"k-{uuid.uuid4().hex}"


def post_key(api, path, body, k, **kw):
    """POST `body` (a dict, sent as compact JSON bytes) with Idempotency-Key k."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return api.post_raw(path, raw, headers={"Idempotency-Key": k}, **kw)


def stored_keys(db_rows, k):
    # Idempotency-Keys are kept per API key: the suite's admin key is the client
    return db_rows("SELECT status, location, body FROM idempotency_keys WHERE client = %s AND key = %s",
                   (api_key()[4:20], k))


def contact_keys(db_rows, k):
    """The contacts holding key k of the suite's admin key, with the fingerprint of their request."""
    return db_rows("SELECT id, encode(idem_fp, 'hex') FROM contacts WHERE idem_hash = crm_idem_contact_key(%s, %s)",
                   (api_key()[4:20], k))


def contacts_of(db_count, email):
    return db_count("contacts c JOIN leads l ON l.id = c.lead_id", "l.email = %s", (email,))


def test_replay_returns_the_first_answer_and_creates_nothing(api, db_rows, db_count, source_with_operator):
    src, op = source_with_operator()
    email, k = new_email("idem"), key()
    body = {"email": email, "source_id": src["id"]}
    first = post_key(api, "/api/contacts", body, k)
    contact = check_json(first, 201)
    assert REPLAYED not in first.headers
    assert first.headers["Location"] == f"/api/contacts/{contact['id']}"
    assert contact["operator_id"] == op["id"]
    for _ in range(3):
        again = post_key(api, "/api/contacts", body, k)
        assert check_json(again, 201) == contact
        assert again.content == first.content
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers.get(REPLAYED) == "true"
    assert contacts_of(db_count, email) == 1
    assert db_count("assignment_history", "contact_id = %s", (contact["id"],)) == 1
    assert db_rows("SELECT active_contacts FROM operators WHERE id = %s", (op["id"],))[0][0] == 1
    request = b"POST /api/contacts 0 0\n" + first.request.body
    assert contact_keys(db_rows, k) == [(contact["id"], hashlib.sha256(request).hexdigest())]
    assert stored_keys(db_rows, k) == []  # on the contact, not in idempotency_keys


def test_without_a_key_every_post_is_processed(api, db_count, source_with_operator):
    src, _ = source_with_operator()
    email = new_email("nokey")
    for _ in range(2):
        resp = api.post("/api/contacts", json={"email": email, "source_id": src["id"]})
        check_json(resp, 201)
        assert REPLAYED not in resp.headers
    assert contacts_of(db_count, email) == 2


def test_same_key_other_request_is_422_and_stores_nothing(api, db_count, source_with_operator):
    src, _ = source_with_operator()
    k, first_email, other_email = key(), new_email("a"), new_email("b")
    check_json(post_key(api, "/api/contacts", {"email": first_email, "source_id": src["id"]}, k), 201)
    resp = post_key(api, "/api/contacts", {"email": other_email, "source_id": src["id"]}, k)
    check_problem(resp, 422, fields={"Idempotency-Key"})
    assert REPLAYED not in resp.headers
    assert contacts_of(db_count, other_email) == 0
    # the same key on another route is another request too
    check_problem(post_key(api, "/api/sources", {"name": unique("src")}, k), 422, fields={"Idempotency-Key"})
    # the body's bytes are compared: equal JSON written differently is another request
    raw = ('{ "email": "%s", "source_id": %d }' % (first_email, src["id"])).encode()
    check_problem(api.post_raw("/api/contacts", raw, headers={"Idempotency-Key": k}), 422,
                  fields={"Idempotency-Key"})
    assert contacts_of(db_count, first_email) == 1


@pytest.mark.parametrize("bad", [b"", b"a b", b"k" * 256, b"caf\xc3\xa9", b"tab\tkey", b"\x7f"],
                         ids=["empty", "space", "256-chars", "non-ascii", "tab", "del"])
def test_malformed_key_is_400(api, db_count, source_with_operator, bad):
    src, _ = source_with_operator()
    email = new_email("bad")
    raw = json.dumps({"email": email, "source_id": src["id"]}).encode()
    resp = api.post_raw("/api/contacts", raw, headers={"Idempotency-Key": bad})
    body = check_problem(resp, 400)
    assert "Idempotency-Key" in body["detail"]
    assert contacts_of(db_count, email) == 0


def test_longest_and_widest_keys_are_accepted(api, db_rows, source_with_operator):
    src, _ = source_with_operator()
    tag = uuid.uuid4().hex  # keys are kept: a rerun on the same database needs new ones
    for k in [tag + "x" * (255 - len(tag)), tag + "".join(chr(c) for c in range(0x21, 0x7F))]:
        body = {"email": new_email("wide"), "source_id": src["id"]}
        first = check_json(post_key(api, "/api/contacts", body, k), 201)
        again = post_key(api, "/api/contacts", body, k)
        assert check_json(again, 201) == first and again.headers.get(REPLAYED) == "true"
        assert [r[0] for r in contact_keys(db_rows, k)] == [first["id"]]


def test_concurrent_same_key_gives_one_contact(base_url, db_count, source_with_operator):
    src, _ = source_with_operator(max_load_limit=100)
    email, k = new_email("race"), key()
    raw = json.dumps({"email": email, "source_id": src["id"]})
    n = 12
    resps = _simultaneous_with_key(base_url, raw, k, n)
    fresh = [r for r in resps if r.status_code == 201 and REPLAYED not in r.headers]
    replays = [r for r in resps if r.status_code == 201 and r.headers.get(REPLAYED) == "true"]
    busy = [r for r in resps if r.status_code == 409]
    assert len(fresh) == 1, [(r.status_code, r.text) for r in resps]
    assert len(fresh) + len(replays) + len(busy) == n, [(r.status_code, r.text) for r in resps]
    for r in busy:
        check_problem(r, 409)
        assert r.headers.get("Retry-After") == "1"
    for r in replays:
        assert r.content == fresh[0].content
    assert contacts_of(db_count, email) == 1


def _simultaneous_with_key(base_url, raw, k, n):
    """n identical POSTs with key k, from n sessions released together by a barrier."""
    barrier = threading.Barrier(n)
    out = [None] * n
    sessions = [keyed_session() for _ in range(n)]

    def one(i):
        sessions[i].get(base_url + "/api/operators", timeout=30)
        barrier.wait()
        out[i] = sessions[i].post(base_url + "/api/contacts", data=raw.encode(), timeout=60,
                                  headers={"Content-Type": "application/json", "Idempotency-Key": k})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in sessions:
        s.close()
    return out


def test_failed_request_stores_nothing_and_its_retry_is_processed(api, db_rows, db_count, source_with_operator):
    k, email = key(), new_email("fail")
    missing = {"email": email, "source_id": MISSING_ID}
    first = post_key(api, "/api/contacts", missing, k)
    check_problem(first, 404)
    assert stored_keys(db_rows, k) == [] and contact_keys(db_rows, k) == []
    again = post_key(api, "/api/contacts", missing, k)
    check_problem(again, 404)  # processed anew, not a replay
    assert REPLAYED not in again.headers
    # nothing was kept for the key: another request with it is processed, not a 422
    src, _ = source_with_operator()
    ok = post_key(api, "/api/contacts", {"email": email, "source_id": src["id"]}, k)
    check_json(ok, 201)
    assert REPLAYED not in ok.headers
    assert contacts_of(db_count, email) == 1
    # a body the handler refuses (400) stores nothing either
    k2 = key()
    check_problem(api.post_raw("/api/contacts", b'{"email": ', headers={"Idempotency-Key": k2}), 400)
    check_problem(post_key(api, "/api/contacts", {"email": "not-an-email", "source_id": src["id"]}, k2), 422)
    assert stored_keys(db_rows, k2) == [] and contact_keys(db_rows, k2) == []


def test_other_posts_replay(api, db_count, make_operator):
    k = key()
    name = unique("op")
    first = post_key(api, "/api/operators", {"name": name, "max_load_limit": 3}, k)
    op = check_json(first, 201)
    again = post_key(api, "/api/operators", {"name": name, "max_load_limit": 3}, k)
    assert check_json(again, 201) == op and again.headers.get(REPLAYED) == "true"
    assert again.headers["Location"] == first.headers["Location"] == f"/api/operators/{op['id']}"
    assert db_count("operators", "name = %s", (name,)) == 1

    k = key()
    name = unique("src")
    first = post_key(api, "/api/sources", {"name": name}, k)
    src = check_json(first, 201)
    again = post_key(api, "/api/sources", {"name": name}, k)
    assert check_json(again, 201) == src and again.headers.get(REPLAYED) == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert db_count("sources", "name = %s", (name,)) == 1

    # the configuration: 200 without Location; a replay does not apply it again
    other = make_operator()
    k = key()
    cfg = {"operators": [{"operator_id": op["id"], "weight": 5}]}
    first = post_key(api, f"/api/sources/{src['id']}/operators", cfg, k)
    assert check_json(first, 200)[0]["weight"] == 5
    assert "Location" not in first.headers
    configure(api, check_json, src["id"], [(other["id"], 1)])  # changed since
    again = post_key(api, f"/api/sources/{src['id']}/operators", cfg, k)
    assert check_json(again, 200) == first.json() and again.headers.get(REPLAYED) == "true"
    assert "Location" not in again.headers
    rows = check_json(api.get(f"/api/sources/{src['id']}/operators"), 200)
    assert [r["operator_id"] for r in rows] == [other["id"]]  # the replay changed nothing
    # the same key for another source's configuration: the path parameter differs -> 422
    src2 = check_json(api.post("/api/sources", json={"name": unique("src")}), 201)
    check_problem(post_key(api, f"/api/sources/{src2['id']}/operators", cfg, k), 422, fields={"Idempotency-Key"})


def test_a_key_past_its_ttl_is_new_again(api, db, db_rows, db_count, source_with_operator):
    src, _ = source_with_operator()
    k, a, b = key(), new_email("old"), new_email("new")
    old = check_json(post_key(api, "/api/contacts", {"email": a, "source_id": src["id"]}, k), 201)
    with db.cursor() as cur:  # the contact's key is as old as the contact
        cur.execute("UPDATE contacts SET created_at = now() - interval '25 hours' WHERE id = %s", (old["id"],))
    resp = post_key(api, "/api/contacts", {"email": b, "source_id": src["id"]}, k)
    new = check_json(resp, 201)
    assert REPLAYED not in resp.headers
    assert contacts_of(db_count, b) == 1
    assert [r[0] for r in contact_keys(db_rows, k)] == [new["id"]]  # the key moved to the new contact
    # the same for another POST's stored answer
    k = key()
    check_json(post_key(api, "/api/operators", {"name": unique("op"), "max_load_limit": 1}, k), 201)
    with db.cursor() as cur:
        cur.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = %s", (k,))
    resp = post_key(api, "/api/contacts", {"email": new_email("after"), "source_id": src["id"]}, k)
    check_json(resp, 201)
    assert REPLAYED not in resp.headers


@pytest.mark.slow
def test_the_drainer_sweep_deletes_expired_keys(db, db_rows):
    old, young = key(), key()
    with db.cursor() as cur:
        cur.execute("INSERT INTO idempotency_keys (client, key, fingerprint, status, body, created_at)"
                    " VALUES (%s, %s, sha256(''), 201, '{}', now() - interval '25 hours'),"
                    " (%s, %s, sha256(''), 201, '{}', now() - interval '23 hours')",
                    (api_key()[4:20], old, api_key()[4:20], young))
    # the sweep runs at most every CRM_SWEEP_SECONDS (10 s in the test stack)
    wait_until(lambda: stored_keys(db_rows, old) == [], 25, "the expired key deleted by the drainer")
    assert len(stored_keys(db_rows, young)) == 1


@pytest.mark.slow
def test_the_drainer_sweep_clears_expired_contact_keys(api, db, db_rows, source_with_operator):
    src, _ = source_with_operator()
    k_old, k_young = key(), key()
    old = check_json(post_key(api, "/api/contacts", {"email": new_email("swo"), "source_id": src["id"]}, k_old), 201)
    young = check_json(post_key(api, "/api/contacts", {"email": new_email("swy"), "source_id": src["id"]}, k_young), 201)
    with db.cursor() as cur:
        # the sweep walks contacts in id order up to the first young one: start it just before
        # the old contact, which is then the only expired one in its way
        cur.execute("UPDATE contacts SET created_at = now() - interval '25 hours' WHERE id = %s", (old["id"],))
        cur.execute("UPDATE idempotency_sweep SET contact_id = %s", (old["id"] - 1,))
    wait_until(lambda: contact_keys(db_rows, k_old) == [], 25, "the expired contact key cleared by the drainer")
    assert [r[0] for r in contact_keys(db_rows, k_young)] == [young["id"]]
    assert db_rows("SELECT status, operator_id FROM contacts WHERE id = %s", (old["id"],)) == \
        [(old["status"], old["operator_id"])]  # only the key is gone
