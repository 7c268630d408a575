"""The workers and the database going away.

A worker holds one persistent connection. When the server closes it (restart, terminated
backend) the worker notices before its next request and reconnects; while the database cannot
be reached at all, requests get 503 problem+json, and service resumes by itself afterwards.
Both are provoked without stopping the shared test cluster: backends are terminated with
pg_terminate_backend, and "unreachable" is the app role losing its LOGIN right meanwhile.
"""
import requests
from helpers import keyed_session, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def terminate_app_backends(db):
    """Terminate the workers' and the drainer's backends and wait until each has exited
    (PostgreSQL 15's pg_terminate_backend(pid, timeout) returns once the backend is gone, false
    if it was not gone within the timeout). Returns how many there were."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE usename = 'crm' AND application_name = 'crm' AND pid <> pg_backend_pid()"
        )
        found, gone = cur.fetchone()
    assert gone == found, f"{found - gone} of {found} backends still there after 5 s"
    return found


def test_workers_reconnect_after_their_connections_are_closed(db, base_url):
    s = keyed_session()
    assert s.get(base_url + "/api/operators", timeout=10).status_code == 200
    assert terminate_app_backends(db) >= 1
    statuses = [s.get(base_url + "/api/sources", timeout=10).status_code for _ in range(40)]
    assert statuses == [200] * 40, statuses


def test_unreachable_database_is_503_then_service_resumes(db, base_url):
    s = keyed_session()
    with db.cursor() as su:
        su.execute("ALTER ROLE crm NOLOGIN")
    try:
        terminate_app_backends(db)
        r = s.get(base_url + "/api/operators", timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["Content-Type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 503 and body["title"] == "Service Unavailable"
        assert "database" in body["detail"]
        r = s.post(base_url + "/api/operators", json={"name": "x", "max_load_limit": 1}, timeout=30)
        assert r.status_code == 503
    finally:
        with db.cursor() as su:
            su.execute("ALTER ROLE crm LOGIN")
    statuses = []

    def serves():
        r = s.get(base_url + "/api/operators", timeout=10)
        statuses.append(r.status_code)
        return r.status_code == 200

    assert wait_until(serves, 10, interval=0.1), f"no 200 within 10 s of LOGIN again: {statuses[-5:]}"
    statuses = [s.get(base_url + "/api/operators", timeout=10).status_code for _ in range(20)]
    assert statuses == [200] * 20
