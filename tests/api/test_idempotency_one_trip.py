"""POST /api/contacts with an Idempotency-Key in one statement (crm_idem_intake).

The claim and the intake, whose contact carries the key, are one database round trip. Its answer
body is written by SQL (and rebuilt for a replay), so these tests pin it to the worker's own contact object
(GET /api/contacts/{id}, crm_h_write_contact) byte for byte, assigned or not, and check that
the requests the one-statement path leaves to the general one (a refused body, a source the
API key may not use) keep their answers: after a key's claim, so a used key is still 422.
"""
import json
import uuid

from helpers import ApiClient, api_key, check_json, check_problem, new_email, require_env

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

REPLAYED = "Idempotent-Replayed"


def key():
    return f"k1-{uuid.uuid4().hex}"


def post_key(api, body, k):
    raw = json.dumps(body, separators=(",", ":")).encode()
    return api.post_raw("/api/contacts", raw, headers={"Idempotency-Key": k})


def stored(db_rows, k):
    """What is kept for key k: the answers of idempotency_keys and the contacts holding it."""
    return (db_rows("SELECT status, location, body FROM idempotency_keys WHERE key = %s", (k,))
            + db_rows("SELECT id FROM contacts WHERE idem_hash = crm_idem_contact_key(%s, %s)", (api_key()[4:20], k)))


def test_keyed_answer_is_the_contact_object_byte_for_byte(api, db_rows, source_with_operator, make_source):
    src, op = source_with_operator()
    lonely = make_source()  # no operator: the contact waits, operator_id null
    for source_id, operator_id in [(src["id"], op["id"]), (lonely["id"], None)]:
        k = key()
        first = post_key(api, {"email": new_email("trip"), "source_id": source_id}, k)
        contact = check_json(first, 201)
        assert contact["operator_id"] == operator_id
        assert REPLAYED not in first.headers
        assert first.headers["Location"] == f"/api/contacts/{contact['id']}"
        got = api.get(first.headers["Location"])
        check_json(got, 200)
        assert first.content == got.content
        plain = api.post("/api/contacts", json={"email": new_email("plain"), "source_id": source_id})
        assert list(check_json(plain, 201)) == list(contact)  # the same members in the same order
        assert stored(db_rows, k) == [(contact["id"],)]  # the key is on the contact
        again = post_key(api, {"email": json.loads(first.request.body)["email"], "source_id": source_id}, k)
        assert again.content == first.content and again.headers.get(REPLAYED) == "true"


def test_bodies_the_general_path_answers_keep_their_answers(api, db_rows, db_count, source_with_operator):
    src, _ = source_with_operator()
    k, email = key(), new_email("used")
    check_json(post_key(api, {"email": email, "source_id": src["id"]}, k), 201)
    # a used key with a body refused later (bad email, bad JSON) is still another request: 422 on the key
    check_problem(post_key(api, {"email": "not-an-email", "source_id": src["id"]}, k), 422, fields={"Idempotency-Key"})
    check_problem(api.post_raw("/api/contacts", b'{"email": ', headers={"Idempotency-Key": k}), 422,
                  fields={"Idempotency-Key"})
    # a fresh key with such a body: the body's own refusal, nothing stored
    k2 = key()
    check_problem(post_key(api, {"email": "not-an-email", "source_id": src["id"]}, k2), 422, fields={"email"})
    check_problem(post_key(api, {"email": email}, k2), 422, fields={"source_id"})
    assert stored(db_rows, k2) == []


def test_a_source_the_api_key_may_not_use_is_403_and_stores_nothing(api, base_url, db_rows, db_count,
                                                                       source_with_operator):
    own, _ = source_with_operator()
    other, _ = source_with_operator()
    created = check_json(api.post("/api/keys", json={"name": "intake-trip", "scopes": ["intake"],
                                                      "source_ids": [own["id"]]}), 201)
    client = ApiClient(base_url, created["key"])
    k, email = key(), new_email("scoped")
    check_problem(post_key(client, {"email": email, "source_id": other["id"]}, k), 403)
    assert stored(db_rows, k) == []
    first = post_key(client, {"email": email, "source_id": own["id"]}, k)
    check_json(first, 201)
    again = post_key(client, {"email": email, "source_id": own["id"]}, k)
    assert again.content == first.content and again.headers.get(REPLAYED) == "true"
    assert db_count("contacts c JOIN leads l ON l.id = c.lead_id", "l.email = %s", (email,)) == 1
    client.close()
