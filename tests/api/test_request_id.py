"""Request ids (issue 12): every request carries one, echoed in X-Request-Id, in every log line
of the request and in every problem body (request_id).

nginx passes the client's X-Request-Id when it is well formed (1 to 64 of [A-Za-z0-9._-]),
else its own $request_id; a worker reached without nginx makes one. CRM_LOG_FORMAT=json writes
one JSON object per line.
"""
import json
import re

import pytest
from fastcgi import fcgi
from helpers import MISSING_ID, ApiClient, LogTail, check_json, check_problem, crm_log_path, require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_APP_DSN", "CRM_BIN", "CRM_TEST_PIDFILE")

NGINX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture()
def log():
    return LogTail(crm_log_path())


def test_generated_id_in_header_body_and_log(api, log):
    # a request that logs a line: a duplicate name is a 409 whose constraint the worker logs
    name = unique("rid")
    check_json(api.post("/api/sources", json={"name": name}), 201)
    resp = api.post("/api/sources", json={"name": name})
    problem = check_problem(resp, 409)
    rid = resp.headers.get("X-Request-Id", "")
    assert NGINX_ID.match(rid), resp.headers
    assert problem["request_id"] == rid, problem
    text = log.wait_for(f"req={rid}]".encode())
    lines = [ln for ln in text.split(b"\n") if f"req={rid}]".encode() in ln]
    assert lines and all(b"[POST /api/sources key=" in ln for ln in lines), text
    # every answer has one, a new one each time
    ok = api.get("/api/operators")
    assert NGINX_ID.match(ok.headers.get("X-Request-Id", "")) and ok.headers["X-Request-Id"] != rid


def test_a_well_formed_client_id_is_kept(api, log):
    rid = "client-" + unique("id").replace("_", ".")
    resp = api.get(f"/api/operators/{MISSING_ID}", headers={"X-Request-Id": rid})
    problem = check_problem(resp, 404)
    assert resp.headers["X-Request-Id"] == rid and problem["request_id"] == rid, (resp.headers, problem)
    ok = api.get("/api/operators", headers={"X-Request-Id": "A" * 64})
    assert ok.status_code == 200 and ok.headers["X-Request-Id"] == "A" * 64


@pytest.mark.parametrize("bad", ["has space", "a" * 65, "semi;colon", "quote\"d", "új", "a/b"])
def test_a_malformed_client_id_is_replaced(api, bad):
    resp = api.get(f"/api/operators/{MISSING_ID}", headers={"X-Request-Id": bad.encode()})
    problem = check_problem(resp, 404)
    rid = resp.headers["X-Request-Id"]
    assert NGINX_ID.match(rid) and problem["request_id"] == rid, (bad, rid, problem)


def test_nginx_own_answers_carry_one(base_url):
    with ApiClient(base_url, None) as c:
        resp = c.get("/.problem/404")  # internal location: nginx's own 404 page
        problem = check_problem(resp, 404)
        assert NGINX_ID.match(resp.headers["X-Request-Id"]) and problem["request_id"] == resp.headers["X-Request-Id"]
        resp = c.get("/.problem/404", headers={"X-Request-Id": "edge-1"})
        assert resp.headers["X-Request-Id"] == "edge-1" and resp.json()["request_id"] == "edge-1"
        # the body limit is nginx's (413), before any worker
        resp = c.post("/api/contacts", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json",
                                                                                 "X-Request-Id": "big-1"})
        problem = check_problem(resp, 413)
        assert resp.headers.get("X-Request-Id") == "big-1" and problem["request_id"] == "big-1"
        # one header, not two, on a worker's answer passed through
        resp = c.get("/api/operators")
        assert resp.raw.headers.getlist("X-Request-Id") == [resp.headers["X-Request-Id"]]
        # the static files too
        assert NGINX_ID.match(c.get("/openapi.json").headers.get("X-Request-Id", ""))


def test_a_worker_without_nginx_makes_its_own(extra_master):
    sock, _ = extra_master({})
    ids = []
    for _ in range(3):
        status, headers, body = fcgi(sock, "GET", f"/api/operators/{MISSING_ID}")
        assert status == 404 and json.loads(body)["request_id"] == headers["x-request-id"]
        ids.append(headers["x-request-id"])
    assert all(NGINX_ID.match(i) for i in ids) and len(set(ids)) == 3, ids


def test_json_log_format(extra_master):
    sock, path = extra_master({"CRM_LOG_FORMAT": "json", "CRM_LOG_LEVEL": "debug"})
    status, headers, _ = fcgi(sock, "GET", f"/api/operators/{MISSING_ID}")
    assert status == 404
    rid = headers["x-request-id"]
    status, _, _ = fcgi(sock, "GET", "/x\n{\"forged\":1}\x1b[31m")
    assert status == 404
    with open(path, "rb") as f:
        lines = [ln for ln in f.read().split(b"\n") if ln]
    docs = []
    for ln in lines:
        doc = json.loads(ln)  # every line one object
        assert {"time", "level", "pid", "msg"} <= set(doc), doc
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", doc["time"]), doc
        docs.append(doc)
    mine = [d for d in docs if d.get("request_id") == rid]
    assert mine, docs[-5:]
    for d in mine:
        assert d["method"] == "GET" and d["route"] == "/api/operators/{id}" and d["key"], d
    assert not any("forged" in d for d in docs)
