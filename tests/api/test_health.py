"""GET /healthz and GET /readyz (issue 12): public, cheap, and /readyz names what is wrong.

/healthz says the worker answers; /readyz checks the database, the schema version (the
migrations and function checksums recorded against the ones the binary embeds) and the
drainer's heartbeat. Side masters (their own socket, spoken to over raw FastCGI) show each
failure: a database that is not there, a stopped drainer, a schema that is not the binary's.
"""
import json
import os
import signal
import subprocess
import time
import uuid

import psycopg2
import pytest
from fastcgi import fcgi
from helpers import ApiClient, check_json, check_problem, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN")


def sql(dsn, text, args=None):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(text, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def readyz(sock):
    status, headers, body = fcgi(sock, "GET", "/readyz", key=None, timeout=15)
    return status, headers, body


def problem_of(status, headers, body):
    assert headers.get("content-type", "").startswith("application/problem+json"), (status, headers, body)
    doc = json.loads(body)
    assert doc["status"] == status == 503, doc
    assert headers.get("retry-after") == "1", headers
    assert doc["request_id"] == headers.get("x-request-id"), (doc, headers)
    return doc


def test_healthz_and_readyz_are_public_and_ok(base_url):
    with ApiClient(base_url, None) as c:  # no key: the probes carry none
        assert check_json(c.get("/healthz"), 200) == {"status": "ok"}
        ready = check_json(c.get("/readyz"), 200)
        assert ready == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "drainer": "ok"}}
        for path in ("/healthz", "/readyz"):
            resp = c.head(path)
            assert resp.status_code == 200 and resp.content == b"", (path, resp.status_code)
            assert resp.headers["Content-Type"].startswith("application/json")
            assert resp.headers.get("X-Request-Id"), resp.headers
        check_problem(c.post("/healthz", json={}), 405)
        check_problem(c.get("/healthz/x"), 404)


def test_readyz_names_an_unreachable_database(tmp_path):
    """A master whose database is not there: healthz still 200, readyz 503 naming the database."""
    sock = str(tmp_path / "crm.sock")
    env = dict(os.environ)
    env.update({"CRM_DATABASE_URL": "host=127.0.0.1 port=1 connect_timeout=2", "CRM_LISTEN": f"unix:{sock}",
                "CRM_WORKERS": "1", "CRM_AUTO_MIGRATE": "off", "CRM_LOG_LEVEL": "error"})
    with open(tmp_path / "crm.log", "w") as log:
        proc = subprocess.Popen([os.environ["CRM_BIN"], "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_until(lambda: os.path.exists(sock), 10, "the side master listens")
        status, headers, body = fcgi(sock, "GET", "/healthz", key=None)
        assert status == 200 and body == b'{"status":"ok"}', (status, body)
        doc = problem_of(*readyz(sock))
        assert "database:" in doc["detail"] and "drainer:" not in doc["detail"], doc
        assert "schema: unknown" in doc["detail"], doc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def drainer_of(sock):
    """The pid of the crm-drainer started with CRM_LISTEN=unix:<sock> (the side master's)."""
    want = f"CRM_LISTEN=unix:{sock}".encode()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if comm.startswith("crm-drainer") and want in env:
            return int(pid)
    return None


def test_readyz_names_a_stopped_drainer(extra_master):
    sock, log = extra_master({"CRM_SWEEP_SECONDS": "1"})  # stale after 2 x 1 + 5 s
    assert readyz(sock)[0] == 200
    drainer = drainer_of(sock)
    assert drainer is not None
    os.kill(drainer, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_until(lambda: readyz(sock)[0] == 503, 20, "readyz sees the stopped drainer")
        assert time.monotonic() - t0 >= 3, "stale before its time"
        doc = problem_of(*readyz(sock))
        assert "drainer: no heartbeat for" in doc["detail"] and "database:" not in doc["detail"], doc
        status, _, body = fcgi(sock, "GET", "/healthz", key=None)
        assert status == 200, body  # the process still answers
    finally:
        os.kill(drainer, signal.SIGCONT)
    wait_until(lambda: readyz(sock)[0] == 200, 10, "readyz recovers with the drainer")


def test_readyz_names_a_schema_that_is_not_the_binarys(extra_master):
    """A scratch database migrated by this binary, then one function checksum changed (as if an
    older or newer binary had migrated it): not ready, naming the file; fixed by migrate."""
    name = f"crm_health_{uuid.uuid4().hex[:10]}"
    admin, app = os.environ["CRM_TEST_DSN"], os.environ["CRM_TEST_APP_DSN"]
    role = dict(kv.split("=", 1) for kv in app.split())["user"]
    sql(admin, f'CREATE DATABASE "{name}" OWNER "{role}"')  # the workers' role owns it all
    try:
        dsn = f"{app} dbname={name}"
        env = dict(os.environ, CRM_DATABASE_URL=dsn)
        out = subprocess.run([os.environ["CRM_BIN"], "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        sock, _ = extra_master({"CRM_DATABASE_URL": dsn, "CRM_BENCH_NO_AUTH": "1"})
        assert readyz(sock)[0] == 200
        checksum = sql(dsn, "SELECT checksum FROM crm_schema_repeatable ORDER BY name LIMIT 1")[0][0]
        fname = sql(dsn, "SELECT name FROM crm_schema_repeatable ORDER BY name LIMIT 1")[0][0]
        sql(dsn, "UPDATE crm_schema_repeatable SET checksum = 'x' WHERE name = %s", (fname,))
        doc = problem_of(*readyz(sock))
        assert f"schema: {fname} differs from this binary's" in doc["detail"], doc
        # a migration this binary does not know (a newer one migrated the database)
        sql(dsn, "UPDATE crm_schema_repeatable SET checksum = %s WHERE name = %s", (checksum, fname))
        assert readyz(sock)[0] == 200
        sql(dsn, "INSERT INTO crm_migrations (version, name) VALUES (9999, 'future')")
        doc = problem_of(*readyz(sock))
        assert "schema: the database has migration 9999, unknown to this binary" in doc["detail"], doc
    finally:
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
