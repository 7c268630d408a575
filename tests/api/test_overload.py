"""Bounded resources: a half-sent body cannot hold a worker, and a request that waited too long for a
busy worker is refused at once with 503 + Retry-After, changing nothing.

Issue 10. Each test starts one more master (as test_db_errors does) with small limits on its own
unix socket and speaks FastCGI to it directly, so it can send half a body, or pass the
CRM_REQUEST_START that nginx passes ($msec), and the test stack keeps its defaults.
"""
import json
import os
import threading
import time

import pytest
from fastcgi import STDIN, connect, fcgi, head, read_answer, record
from helpers import new_email, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN")

def log_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def contact_body(source_id, email):
    return json.dumps({"email": email, "source_id": source_id}).encode()


# --- the body deadline ---

def test_stalled_bodies_do_not_hold_the_workers(extra_master, make_source, db_count):
    sock, log = extra_master({"CRM_WORKERS": "2", "CRM_BODY_TIMEOUT": "1"})
    src = make_source()
    email = new_email("stall")
    body = contact_body(src["id"], email)
    stalled = []
    try:
        for _ in range(2):  # as many as there are workers: each sends half its body, then nothing
            s = connect(sock, timeout=15)
            s.sendall(head("POST", "/api/contacts", len(body)) + record(STDIN, body[:len(body) // 2]))
            stalled.append(s)
        time.sleep(0.3)  # both are accepted and stuck in the body
        t0 = time.monotonic()
        status, _, payload = fcgi(sock, "GET", "/api/operators", timeout=15)
        took = time.monotonic() - t0
        assert status == 200, payload
        assert took < 1 + 4, f"a normal request waited {took:.1f} s behind two stalled bodies"
        for s in stalled:  # each was dropped: closed without an answer, within the deadline
            assert read_answer(s) is None
    finally:
        for s in stalled:
            s.close()
    assert db_count("contacts", "lead_id IN (SELECT id FROM leads WHERE email = %s)", (email,)) == 0
    assert log_text(log).count("request body incomplete") >= 2


def test_a_body_cut_short_by_the_client_is_never_processed(extra_master, make_source, db_count):
    sock, log = extra_master({"CRM_WORKERS": "1"})
    src = make_source()
    email = new_email("cut")
    body = contact_body(src["id"], email)
    # a prefix that is itself complete JSON: processed as a body, it would store the contact
    declared = len(body) + 10
    s = connect(sock, timeout=15)
    try:
        s.sendall(head("POST", "/api/contacts", declared) + record(STDIN, body) + record(STDIN))
        assert read_answer(s) is None
    finally:
        s.close()
    assert fcgi(sock, "GET", "/api/operators")[0] == 200
    assert db_count("contacts", "lead_id IN (SELECT id FROM leads WHERE email = %s)", (email,)) == 0
    assert "request body incomplete" in log_text(log)


# --- overload: the queue limit ---

def check_busy(answer):
    status, headers, payload = answer
    assert status == 503, payload
    assert headers.get("content-type") == "application/problem+json"
    assert int(headers["retry-after"]) >= 1
    problem = json.loads(payload)
    assert problem["status"] == 503 and "busy" in problem["detail"]


def test_a_request_that_waited_too_long_is_refused_and_changes_nothing(extra_master, make_source, db_count):
    sock, log = extra_master({"CRM_QUEUE_TIMEOUT_MS": "500"})
    src = make_source()
    old, fresh, unmarked = new_email("old"), new_email("fresh"), new_email("plain")
    check_busy(fcgi(sock, "POST", "/api/contacts", contact_body(src["id"], old), start=time.time() - 5))
    assert db_count("leads", "email = %s", (old,)) == 0
    assert fcgi(sock, "POST", "/api/contacts", contact_body(src["id"], fresh), start=time.time())[0] == 201
    # no CRM_REQUEST_START (a direct FastCGI client): never refused
    assert fcgi(sock, "POST", "/api/contacts", contact_body(src["id"], unmarked))[0] == 201
    assert db_count("leads", "email IN (%s, %s)", (fresh, unmarked)) == 2
    assert "refused 1 request(s) that waited longer than 500 ms" in log_text(log)


def test_queue_limit_off_serves_old_requests(extra_master, make_source):
    sock, _ = extra_master({"CRM_QUEUE_TIMEOUT_MS": "0"})
    src = make_source()
    body = contact_body(src["id"], new_email("off"))
    assert fcgi(sock, "POST", "/api/contacts", body, start=time.time() - 60)[0] == 201


def test_saturated_workers_refuse_the_queue_then_recover(extra_master, make_source, make_operator, db_rows, db_count):
    import psycopg2

    sock, _ = extra_master({"CRM_WORKERS": "2", "CRM_QUEUE_TIMEOUT_MS": "300", "CRM_LOCK_TIMEOUT": "30"})
    src = make_source()
    op = make_operator(max_load_limit=4)
    emails = [new_email("queued") for _ in range(6)]
    holder = psycopg2.connect(os.environ["CRM_TEST_DSN"])
    slow, queued = {}, {}

    def patch(i):
        slow[i] = fcgi(sock, "PATCH", f"/api/operators/{op['id']}", b'{"max_load_limit": %d}' % (5 + i))

    def post(i):
        t0 = time.monotonic()
        answer = fcgi(sock, "POST", "/api/contacts", contact_body(src["id"], emails[i]), start=time.time())
        queued[i] = (answer, time.monotonic() - t0)

    try:
        with holder.cursor() as cur:  # both workers will wait on this row lock
            cur.execute("SELECT id FROM operators WHERE id = %s FOR UPDATE", (op["id"],))
        slow_threads = [threading.Thread(target=patch, args=(i,)) for i in range(2)]
        for t in slow_threads:
            t.start()
        wait_until(lambda: db_rows("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND datname = current_database()")[0][0] >= 2,
                   10, "both workers wait for the row lock")
        queued_threads = [threading.Thread(target=post, args=(i,)) for i in range(len(emails))]
        for t in queued_threads:
            t.start()
        time.sleep(1.0)  # every queued request is now older than the 300 ms limit
        holder.rollback()  # the workers are free again
        for t in slow_threads + queued_threads:
            t.join(30)
    finally:
        holder.rollback()
        holder.close()
    assert sorted(a[0] for a in slow.values()) == [200, 200]
    for answer, took in queued.values():
        check_busy(answer)
        assert took < 1.0 + 4, f"a refused request took {took:.1f} s"
    assert len(queued) == len(emails)
    assert db_count("leads", "email = ANY(%s)", (emails,)) == 0
    # recovered: new requests are served at once
    fresh = new_email("after")
    assert fcgi(sock, "POST", "/api/contacts", contact_body(src["id"], fresh), start=time.time())[0] == 201
    assert db_count("leads", "email = %s", (fresh,)) == 1


# --- nginx: a connect that fails is a 503 with Retry-After ---

def test_nginx_answers_503_when_no_worker_can_be_reached(api):
    # the backlog full and no worker listening fail alike: the connect to the socket fails. Take
    # the stack's socket away for a moment (a new connect finds no file) and put it back.
    sock = os.path.join(os.path.dirname(os.environ["CRM_TEST_PIDFILE"]), "crm.sock")
    aside = sock + ".aside"
    os.rename(sock, aside)
    try:
        resp = api.get("/api/operators")
    finally:
        os.rename(aside, sock)
    assert resp.status_code == 503, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["status"] == 503
    assert api.get("/api/operators").status_code == 200
