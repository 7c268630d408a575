"""Shared fixtures for the mini-crm API tests.

The tests talk to a running stack (nginx -> crm FastCGI workers -> PostgreSQL)
described by environment variables that tests/run exports:

    CRM_TEST_URL      base URL through nginx, e.g. http://127.0.0.1:8100
    CRM_TEST_DSN      superuser conninfo, used for checks behind the API's back
    CRM_TEST_APP_DSN  the application role's conninfo (migrations)
    CRM_BIN           absolute path of build/crm
    CRM_TEST_PIDFILE  pid file of the crm master process
    CRM_TEST_WORKERS  number of worker processes the master keeps

Each test module skips itself (pytest.skip at module level) when a variable
it needs is missing, so the suite still collects cleanly without a stack.

Tests never assume empty tables: they create their own rows with unique
names and compare row counts before/after, or filter by the ids they made.
"""

import os
import uuid

import pytest
import requests

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"

OPERATOR_KEYS = {"id", "name", "is_active", "max_load_limit", "active_contacts"}
SOURCE_KEYS = {"id", "name", "description"}
ENTRY_KEYS = {"id", "operator_id", "source_id", "weight"}


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through tests/run)")
    return value


def unique(prefix="t"):
    """A short unique name, safe to use under the 200-character limits."""
    return f"{prefix}-{uuid.uuid4().hex}"


class ApiClient(requests.Session):
    """requests.Session whose get/post/patch/... take a path like /api/operators."""

    def __init__(self, base_url):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def url(self, path):
        return self.base_url + path

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)

    def send_raw(self, method, path, body, content_type=JSON_TYPE, **kwargs):
        """Send `body` (str or bytes) verbatim; content_type None sends no Content-Type."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.request(method, path, data=body, headers=headers, **kwargs)

    def post_raw(self, path, body, content_type=JSON_TYPE, **kwargs):
        return self.send_raw("POST", path, body, content_type, **kwargs)

    def patch_raw(self, path, body, content_type=JSON_TYPE, **kwargs):
        return self.send_raw("PATCH", path, body, content_type, **kwargs)


@pytest.fixture(scope="session")
def base_url():
    return _env("CRM_TEST_URL").rstrip("/")


@pytest.fixture(scope="session")
def api(base_url):
    client = ApiClient(base_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def db():
    """psycopg2 connection (superuser, autocommit) to the test database."""
    psycopg2 = pytest.importorskip("psycopg2")
    conn = psycopg2.connect(_env("CRM_TEST_DSN"))
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def db_rows(db):
    """db_rows(sql, params=()) -> list of tuples."""

    def run(sql, params=()):
        with db.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    return run


@pytest.fixture(scope="session")
def db_count(db_rows):
    """db_count(table, where="", params=()) -> int."""

    def count(table, where="", params=()):
        sql = f"SELECT count(*) FROM {table}"
        if where:
            sql += f" WHERE {where}"
        return db_rows(sql, params)[0][0]

    return count


def check_problem(resp, status, fields=None):
    """Assert `resp` is an RFC 9457 problem with this status; return the body.

    For 422 the body must carry a non-empty `errors` list of {field, message};
    with `fields` given, the set of named fields must equal it exactly.
    """
    ctype = resp.headers.get("Content-Type", "")
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.text[:500]!r}"
    )
    assert ctype.split(";")[0].strip().lower() == PROBLEM_TYPE, (
        f"Content-Type {ctype!r} for {status}: {resp.text[:300]!r}"
    )
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"problem body is not JSON: {resp.text[:300]!r}")
    assert isinstance(body, dict), body
    for key in ("status", "title", "detail"):
        assert key in body, f"problem lacks {key!r}: {body}"
    assert body["status"] == resp.status_code and type(body["status"]) is int, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str), body
    if "type" in body:
        assert isinstance(body["type"], str), body
    if status == 422:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, f"422 without errors list: {body}"
        for entry in errors:
            assert isinstance(entry, dict), body
            assert isinstance(entry.get("field"), str) and entry["field"], body
            assert isinstance(entry.get("message"), str) and entry["message"], body
        if fields is not None:
            named = {e["field"] for e in errors}
            assert named == set(fields), f"errors name {named}, expected {set(fields)}: {body}"
    else:
        assert fields is None
    return body


@pytest.fixture(scope="session")
def assert_problem():
    """assert_problem(resp, status, fields=None) -> parsed problem body."""
    return check_problem


def check_json(resp, status):
    """Assert a JSON (non-problem) answer with this status; return the body."""
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.text[:500]!r}"
    )
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == JSON_TYPE, f"Content-Type {ctype!r}"
    return resp.json()


@pytest.fixture(scope="session")
def assert_json():
    """assert_json(resp, status) -> parsed body of an application/json answer."""
    return check_json


@pytest.fixture(scope="session")
def make_operator(api):
    """make_operator(**fields) -> created operator (dict); name defaults to a unique one."""

    def make(**kw):
        body = {"name": unique("op"), "max_load_limit": 10}
        body.update(kw)
        resp = api.post("/api/operators", json=body)
        created = check_json(resp, 201)
        assert resp.headers.get("Location") == f"/api/operators/{created['id']}"
        return created

    return make


@pytest.fixture(scope="session")
def make_source(api):
    """make_source(**fields) -> created source (dict); name defaults to a unique one."""

    def make(**kw):
        body = {"name": unique("src")}
        body.update(kw)
        resp = api.post("/api/sources", json=body)
        created = check_json(resp, 201)
        assert resp.headers.get("Location") == f"/api/sources/{created['id']}"
        return created

    return make
