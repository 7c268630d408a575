"""Database errors: mapped by constraint name, source names folded, every bad field, time limits.

Issue 10: a constraint is reported as what it is (src/pg.c's table, by constraint name; an
unknown one is a 500 whose log names the constraint but never the row), source names are unique
regardless of case and Unicode form (409), a 422 lists every bad field, and a request that hits
the database's statement_timeout or lock_timeout is 503 with Retry-After and changes nothing.
The time-limit tests start one more master (as test_several_hosts does) with small limits and
speak FastCGI to its socket directly, so the test stack keeps its defaults.
"""
import os
import time
import unicodedata

import pytest
from fastcgi import fcgi
from helpers import (MISSING_ID, LogTail, check_json, check_problem, configure, crm_log_path, new_email,
                     require_env, schema_change, unique)

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN", "CRM_TEST_PIDFILE")


# --- source names: one per case and Unicode form ---

@pytest.mark.parametrize("first, second", [
    ("Web", "web"),
    ("web", "WEB"),
    ("caf\u00e9", "cafe\u0301"),     # NFC then NFD
    ("cafe\u0301", "caf\u00e9"),     # NFD then NFC
    ("\u00c9cole", "e\u0301COLE"),   # upper NFC then lower-case NFD
])
def test_source_names_differing_only_in_case_or_form_conflict(api, db_count, first, second):
    tag = unique("n")
    created = api.post("/api/sources", json={"name": f"{first} {tag}"})
    assert created.status_code == 201, created.text
    before = db_count("sources")
    resp = api.post("/api/sources", json={"name": f"{second} {tag}", "description": "must not be stored"})
    body = check_problem(resp, 409)
    assert "exists" in body["detail"]
    assert db_count("sources") == before, "a 409 stored a source"
    assert db_count("sources", "description = 'must not be stored'") == 0


def test_source_name_keeps_the_form_it_was_given(api, assert_json):
    name = unicodedata.normalize("NFD", f"Caf\u00e9 {unique('k')}")
    src = assert_json(api.post("/api/sources", json={"name": name}), 201)
    assert src["name"] == name
    assert assert_json(api.get(f"/api/sources/{src['id']}"), 200)["name"] == name


def test_distinct_names_are_still_distinct(api, assert_json):
    tag = unique("d")
    assert_json(api.post("/api/sources", json={"name": f"cafe {tag}"}), 201)
    assert_json(api.post("/api/sources", json={"name": f"caf\u00e9 {tag}"}), 201)


# --- constraints by name ---

def test_unknown_source_of_an_intake_is_still_404(api, db_count):
    email = new_email("nosrc")
    body = check_problem(api.post("/api/contacts", json={"email": email, "source_id": MISSING_ID}), 404)
    assert "source" in body["detail"]
    assert db_count("leads", "email = %s", (email,)) == 0


def test_an_unmapped_constraint_is_500_and_its_log_holds_no_row(api, db, db_count):
    """A constraint the table does not know is never passed off as another error: 500, nothing
    stored, and the log names SQLSTATE, constraint and table, but not the row's values."""
    marker = unique("secret")
    with schema_change(db, ["ALTER TABLE operators ADD CONSTRAINT crm_test_unmapped_check"
                            " CHECK (name NOT LIKE 'secret-%') NOT VALID"],
                       ["ALTER TABLE operators DROP CONSTRAINT crm_test_unmapped_check"]):
        log = LogTail(crm_log_path())
        resp = api.post("/api/operators", json={"name": marker, "max_load_limit": 1})
        check_problem(resp, 500)
        assert db_count("operators", "name = %s", (marker,)) == 0
        # the worker writes its log line right after the answer
        text = log.wait_for(b"crm_test_unmapped_check", timeout=2).decode("utf-8", "replace")
        assert "23514" in text and "crm_test_unmapped_check" in text and "operators" in text, text
        assert marker not in text, "the log holds the row's contents"


# --- a 422 lists every bad field ---

def test_a_422_reports_every_bad_field(api, make_source, make_operator, db_rows):
    src = make_source()
    op = make_operator()
    configure(api, check_json, src["id"], [(op["id"], 3)])
    n = 40
    body = {"operators": [{"operator_id": MISSING_ID - i, "weight": 0} for i in range(n)]}
    problem = check_problem(api.post(f"/api/sources/{src['id']}/operators", json=body), 422)
    fields = [e["field"] for e in problem["errors"]]
    for i in range(n):
        assert f"operators[{i}].weight" in fields, fields
    assert len(fields) >= n
    assert db_rows("SELECT operator_id, weight FROM source_operators WHERE source_id = %s",
                   (src["id"],)) == [(op["id"], 3)]


def test_a_422_with_thousands_of_bad_fields(api, make_source, db_count):
    """The most entries the schema takes (1000), each with a bad weight and a distinct id past
    the id range: 2000 field errors, each named once."""
    src = make_source()
    n = 1000
    body = {"operators": [{"operator_id": MISSING_ID - i, "weight": -1} for i in range(n)]}
    problem = check_problem(api.post(f"/api/sources/{src['id']}/operators", json=body), 422)
    fields = [e["field"] for e in problem["errors"]]
    assert sorted(fields) == sorted(f"operators[{i}].{k}" for i in range(n) for k in ("operator_id", "weight"))
    assert db_count("source_operators", "source_id = %s", (src["id"],)) == 0


# --- bounded database time: 503 with Retry-After, nothing changed ---

@pytest.mark.parametrize("limits, sqlstate", [
    ({"CRM_LOCK_TIMEOUT": "1", "CRM_STATEMENT_TIMEOUT": "30"}, "55P03"),
    ({"CRM_LOCK_TIMEOUT": "0", "CRM_STATEMENT_TIMEOUT": "1"}, "57014"),
])
def test_a_locked_row_is_503_with_retry_after_and_nothing_changes(extra_master, make_operator, db_rows,
                                                                    limits, sqlstate):
    import psycopg2

    sock, log = extra_master({**limits, "CRM_WORKERS": "1"})
    op = make_operator(max_load_limit=4)
    holder = psycopg2.connect(os.environ["CRM_TEST_DSN"])
    try:
        with holder.cursor() as cur:  # a transaction that holds the operator's row lock
            cur.execute("SELECT id FROM operators WHERE id = %s FOR UPDATE", (op["id"],))
        t0 = time.monotonic()
        status, headers, payload = fcgi(sock, "PATCH", f"/api/operators/{op['id']}",
                                                b'{"max_load_limit": 9, "name": "changed"}')
        took = time.monotonic() - t0
    finally:
        holder.rollback()
        holder.close()
    assert status == 503, payload
    assert headers.get("content-type") == "application/problem+json"
    assert int(headers["retry-after"]) >= 1
    assert b'"status":503' in payload
    assert 0.8 < took < 4, f"answered after {took:.1f} s with a 1 s limit"
    with open(log, encoding="utf-8", errors="replace") as f:
        assert f"time limit hit ({sqlstate})" in f.read()
    assert db_rows("SELECT name, max_load_limit FROM operators WHERE id = %s", (op["id"],)) == \
        [(op["name"], 4)]
    # the worker is usable again at once, and the same PATCH now succeeds
    status, _, payload = fcgi(sock, "PATCH", f"/api/operators/{op['id']}", b'{"max_load_limit": 9}')
    assert status == 200, payload
    assert db_rows("SELECT max_load_limit FROM operators WHERE id = %s", (op["id"],)) == [(9,)]
