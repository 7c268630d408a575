"""The workers and the database going away.

A worker holds one persistent connection. When the server closes it (restart, terminated
backend) the worker notices before its next request and reconnects; while the database cannot
be reached at all, requests get 503 problem+json, and service resumes by itself afterwards.
Both are provoked without stopping the shared test cluster: backends are terminated with
pg_terminate_backend, and "unreachable" is the app role losing its LOGIN right meanwhile.
"""
import os
import time

import pytest
import requests

URL = os.environ.get("CRM_TEST_URL")
DSN = os.environ.get("CRM_TEST_DSN")
pytestmark = pytest.mark.skipif(not URL or not DSN, reason="CRM_TEST_URL / CRM_TEST_DSN not set")


@pytest.fixture()
def su():
    import psycopg2

    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    yield conn.cursor()
    conn.close()


def terminate_app_backends(cur):
    cur.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE usename = 'crm' AND application_name = 'crm' AND pid <> pg_backend_pid()"
    )
    return cur.fetchone()[0]


def test_workers_reconnect_after_their_connections_are_closed(su):
    s = requests.Session()
    assert s.get(URL + "/api/operators", timeout=10).status_code == 200
    assert terminate_app_backends(su) >= 1
    time.sleep(0.5)  # let the backends exit and the workers' sockets see it
    statuses = [s.get(URL + "/api/sources", timeout=10).status_code for _ in range(40)]
    assert statuses == [200] * 40, statuses


def test_unreachable_database_is_503_then_service_resumes(su):
    s = requests.Session()
    su.execute("ALTER ROLE crm NOLOGIN")
    try:
        terminate_app_backends(su)
        time.sleep(0.5)
        r = s.get(URL + "/api/operators", timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["Content-Type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 503 and body["title"] == "Service Unavailable"
        assert "database" in body["detail"]
        r = s.post(URL + "/api/operators", json={"name": "x", "max_load_limit": 1}, timeout=30)
        assert r.status_code == 503
    finally:
        su.execute("ALTER ROLE crm LOGIN")
    deadline = time.monotonic() + 10
    while True:
        r = s.get(URL + "/api/operators", timeout=10)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    statuses = [s.get(URL + "/api/operators", timeout=10).status_code for _ in range(20)]
    assert statuses == [200] * 20
