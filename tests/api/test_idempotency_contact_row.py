"""POST /api/contacts keeps its Idempotency-Key on the contact row (migration 0011).

No answer is stored: a replay is rebuilt from the contact and its intake entry in the history, so
these tests change the contact after its first answer (closed, reassigned by hand, left waiting
and then drained to an operator) and check that every replay is still the first answer, byte for
byte, and that nothing of the replay shows the contact as it is now. A contact posted without a
key has no key columns, and a key is one namespace per client across routes in both directions.
"""
import json
import uuid

from helpers import (api_key, check_json, check_problem, configure, new_email, patch_contact, require_env, unique,
                     wait_until)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

REPLAYED = "Idempotent-Replayed"


def key():
    return f"kr-{uuid.uuid4().hex}"


def post_key(api, path, body, k):
    raw = json.dumps(body, separators=(",", ":")).encode()
    return api.post_raw(path, raw, headers={"Idempotency-Key": k})


def assert_replays(api, body, k, first):
    again = post_key(api, "/api/contacts", body, k)
    assert again.status_code == 201 and again.headers.get(REPLAYED) == "true", again.text
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]


def test_replay_after_close_and_reassignment_is_the_first_answer(api, db_count, source_with_operator,
                                                                 make_operator):
    src, op = source_with_operator(max_load_limit=5)
    other = make_operator(max_load_limit=5)
    configure(api, check_json, src["id"], [(op["id"], 1), (other["id"], 1)])
    k, body = key(), {"email": new_email("row"), "source_id": src["id"]}
    first = post_key(api, "/api/contacts", body, k)
    contact = check_json(first, 201)
    assert contact["status"] == "active" and contact["operator_id"] in (op["id"], other["id"])
    to = other["id"] if contact["operator_id"] == op["id"] else op["id"]
    check_json(patch_contact(api, contact["id"], {"operator_id": to}), 200)
    assert_replays(api, body, k, first)
    check_json(patch_contact(api, contact["id"], {"status": "closed"}), 200)
    assert check_json(api.get(f"/api/contacts/{contact['id']}"), 200)["status"] == "closed"
    assert_replays(api, body, k, first)
    assert db_count("contacts", "lead_id = %s", (contact["lead_id"],)) == 1


def test_replay_of_a_waiting_contact_drained_since_says_unassigned(api, db_rows, make_source, make_operator):
    src = make_source()  # no operator yet: the contact waits
    k, body = key(), {"email": new_email("wait"), "source_id": src["id"]}
    first = post_key(api, "/api/contacts", body, k)
    contact = check_json(first, 201)
    assert contact["operator_id"] is None
    op = make_operator(max_load_limit=5)
    configure(api, check_json, src["id"], [(op["id"], 1)])
    wait_until(lambda: db_rows("SELECT operator_id FROM contacts WHERE id = %s", (contact["id"],))[0][0] == op["id"],
               20, "the waiting contact drained to the new operator")
    assert_replays(api, body, k, first)
    assert json.loads(first.content)["operator_id"] is None


def test_a_contact_without_a_key_has_no_key_columns(api, db_rows, source_with_operator):
    src, _ = source_with_operator()
    c = check_json(api.post("/api/contacts", json={"email": new_email("plain"), "source_id": src["id"]}), 201)
    assert db_rows("SELECT idem_hash, idem_fp FROM contacts WHERE id = %s", (c["id"],)) == [(None, None)]
    # and the next plain one after a keyed one in the same worker does not inherit the key
    check_json(post_key(api, "/api/contacts", {"email": new_email("keyed"), "source_id": src["id"]}, key()), 201)
    c = check_json(api.post("/api/contacts", json={"email": new_email("plain"), "source_id": src["id"]}), 201)
    assert db_rows("SELECT idem_hash, idem_fp FROM contacts WHERE id = %s", (c["id"],)) == [(None, None)]


def test_a_key_is_one_namespace_across_routes(api, db_count, db_rows, source_with_operator):
    src, _ = source_with_operator()
    # a contact's key used for a source: 422, no source made
    k, name = key(), unique("src")
    check_json(post_key(api, "/api/contacts", {"email": new_email("ns"), "source_id": src["id"]}, k), 201)
    check_problem(post_key(api, "/api/sources", {"name": name}, k), 422, fields={"Idempotency-Key"})
    assert db_count("sources", "name = %s", (name,)) == 0
    # a source's key used for a contact: 422, no contact made, and the source's answer still replays
    k, name, email = key(), unique("src"), new_email("ns2")
    first = post_key(api, "/api/sources", {"name": name}, k)
    check_json(first, 201)
    check_problem(post_key(api, "/api/contacts", {"email": email, "source_id": src["id"]}, k), 422,
                  fields={"Idempotency-Key"})
    assert db_count("contacts c JOIN leads l ON l.id = c.lead_id", "l.email = %s", (email,)) == 0
    again = post_key(api, "/api/sources", {"name": name}, k)
    assert again.content == first.content and again.headers.get(REPLAYED) == "true"
    assert db_rows("SELECT count(*) FROM contacts WHERE idem_hash = crm_idem_contact_key(%s, %s)", (api_key()[4:20], k)) == [(0,)]
