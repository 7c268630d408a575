"""Shared fixtures for the mini-crm API tests.

The tests talk to a running stack (nginx -> crm FastCGI workers -> PostgreSQL)
described by environment variables that tests/run exports:

    CRM_TEST_URL      base URL through nginx, e.g. http://127.0.0.1:8100
    CRM_TEST_DSN      superuser conninfo, used for checks behind the API's back
    CRM_TEST_APP_DSN  the application role's conninfo (migrations)
    CRM_BIN           absolute path of build/crm
    CRM_TEST_PIDFILE  pid file of the crm master process
    CRM_TEST_WORKERS  number of worker processes the master keeps

Each test module skips itself (require_env, at module level) when a variable
it needs is missing, so the suite still collects cleanly without a stack.

Besides the fixtures, this module holds plain helpers shared by several test
modules; they import them with `from conftest import ...` (pytest puts this
directory on sys.path when it loads this conftest).

Tests never assume empty tables: they create their own rows with unique
names and compare row counts before/after, or filter by the ids they made.
"""

import datetime
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from math import comb

import pytest
import requests

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"

OPERATOR_KEYS = {"id", "name", "is_active", "max_load_limit", "active_contacts"}
SOURCE_KEYS = {"id", "name", "description"}
ENTRY_KEYS = {"id", "operator_id", "source_id", "weight"}
CONTACT_KEYS = {"id", "lead_id", "source_id", "operator_id", "status", "created_at"}

MISSING_ID = 99999999999  # an id no row has (but still a valid bigint)
HUGE = 1000000  # the largest max_load_limit (and weight) the contract allows

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$")
LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def require_env(*names):
    """Skip the calling test module (at import) unless every variable in `names` is set."""
    missing = [v for v in names if not os.environ.get(v)]
    if missing:
        pytest.skip(
            "needs " + ", ".join(missing) + " (run through tests/run)",
            allow_module_level=True,
        )


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through tests/run)")
    return value


def unique(prefix="t"):
    """A short unique name, safe to use under the 200-character limits."""
    return f"{prefix}-{uuid.uuid4().hex}"


def new_email(tag="e"):
    """A unique, lower-case e-mail address."""
    return f"{tag}-{uuid.uuid4().hex}@example.com"


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


def _maker(api, path, defaults):
    """make(**fields): POST defaults() updated with fields to `path`; 201 with Location."""

    def make(**kw):
        body = defaults()
        body.update(kw)
        resp = api.post(path, json=body)
        created = check_json(resp, 201)
        assert resp.headers.get("Location") == f"{path}/{created['id']}"
        return created

    return make


@pytest.fixture(scope="session")
def make_operator(api):
    """make_operator(**fields) -> created operator (dict); name defaults to a unique one."""
    return _maker(api, "/api/operators", lambda: {"name": unique("op"), "max_load_limit": 10})


@pytest.fixture(scope="session")
def make_source(api):
    """make_source(**fields) -> created source (dict); name defaults to a unique one."""
    return _maker(api, "/api/sources", lambda: {"name": unique("src")})


@pytest.fixture(scope="session")
def source_with_operator(api, make_source, make_operator):
    """source_with_operator(weight=1, **operator_fields) -> (source, operator): a fresh source
    whose only configured operator is a fresh one made with operator_fields, at that weight."""

    def make(weight=1, **fields):
        src = make_source()
        op = make_operator(**fields)
        configure(api, check_json, src["id"], [(op["id"], weight)])
        return src, op

    return make


# ---------------------------------------------------------------- shared helpers


def assert_create_rejected(api, db_count, table, body, fields):
    """POST /api/<table> with `body` (values "MARK" replaced by a unique name) must be a 422
    naming exactly `fields`, one error each, and store nothing."""
    marker = unique("bad")
    body = {k: (marker if v == "MARK" else v) for k, v in body.items()}
    before = db_count(table)
    problem = check_problem(api.post(f"/api/{table}", json=body), 422, fields=fields)
    assert len(problem["errors"]) == len(fields), problem
    assert db_count(table) == before
    assert db_count(table, "name = %s", (marker,)) == 0


def parse_time(text):
    """An RFC 3339 UTC timestamp (asserted) as an aware datetime."""
    assert isinstance(text, str) and RFC3339_UTC.match(text), f"{text!r} is not RFC 3339 UTC"
    # Python 3.11 fromisoformat takes any fraction length; keep 6 digits to be safe on 3.9+
    m = re.match(r"^(.*?)(\.\d+)?(Z|\+00:00)$", text)
    frac = (m.group(2) or ".0")[:7].ljust(7, "0")
    return datetime.datetime.fromisoformat(m.group(1) + frac + "+00:00")


def next_link(resp):
    """The target of the Link header's rel=next, or None without a Link header."""
    header = resp.headers.get("Link")
    if not header:
        return None
    m = LINK_NEXT.search(header)
    assert m, f"Link header without rel=next: {header!r}"
    return m.group(1)


def configure(api, assert_json, source_id, pairs):
    """Set a source's operators to pairs [(operator_id, weight)]; returns the 200 body."""
    body = {"operators": [{"operator_id": o, "weight": w} for o, w in pairs]}
    return assert_json(api.post(f"/api/sources/{source_id}/operators", json=body), 200)


def set_operator(api, assert_json, op_id, **fields):
    return assert_json(api.patch(f"/api/operators/{op_id}", json=fields), 200)


def post(api, assert_json, source_id, operator_id="any"):
    """POST a contact with a fresh email; 201, and assigned to operator_id unless "any"."""
    resp = api.post("/api/contacts", json={"email": new_email(), "source_id": source_id})
    body = assert_json(resp, 201)
    if operator_id != "any":
        assert body["operator_id"] == operator_id, body
    return body


def simultaneous(base_url, calls, warm_path=None):
    """Send every (method, path, json_body) of `calls` at once, each from its own session and
    thread, released together by a barrier; returns the responses in the order of `calls`.
    With warm_path, every session first GETs it, so that its connection is open beforehand and
    the requests leave as close together as possible."""
    sessions = [requests.Session() for _ in calls]
    barrier = threading.Barrier(len(calls))

    def one(i):
        method, path, body = calls[i]
        barrier.wait(timeout=30)
        return sessions[i].request(method, base_url + path, json=body, timeout=60)

    try:
        if warm_path is not None:
            for s in sessions:
                s.get(base_url + warm_path, timeout=30)
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(one, range(len(calls))))
    finally:
        for s in sessions:
            s.close()


def pooled_posts(base_url, source_id, n, threads=8, tag="p"):
    """n contacts (fresh emails) POSTed to a source by `threads` threads, one session each;
    returns the responses in posting order."""
    local = threading.local()
    sessions = []
    unique_part = uuid.uuid4().hex

    def one(i):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        return local.session.post(base_url + "/api/contacts", timeout=60,
                                  json={"email": f"{tag}{i}-{unique_part}@example.com",
                                        "source_id": source_id})

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, range(n)))
    finally:
        for s in sessions:
            s.close()


def real_load(db_rows, op_id):
    """The real count of an operator's active contacts."""
    return db_rows(
        "SELECT count(*) FROM contacts WHERE operator_id = %s AND status = 'active'", (op_id,)
    )[0][0]


def assert_loads(api, assert_json, db_rows, expected):
    """expected: {operator_id: load}; checks the API, the stored counter and the real count."""
    for op_id, load in expected.items():
        api_load = assert_json(api.get(f"/api/operators/{op_id}"), 200)["active_contacts"]
        stored = db_rows("SELECT active_contacts FROM operators WHERE id = %s", (op_id,))[0][0]
        real = real_load(db_rows, op_id)
        assert (api_load, stored, real) == (load, load, load), (
            f"operator {op_id}: API {api_load}, column {stored}, real {real}, expected {load}"
        )


def waiting_ids(db_rows, source_id):
    """Ids of the source's waiting contacts (unassigned, active), oldest first."""
    return [r[0] for r in db_rows(
        "SELECT id FROM contacts WHERE source_id = %s AND operator_id IS NULL"
        " AND status = 'active' ORDER BY id", (source_id,))]


def binomial_interval(n, p, alpha_per_tail):
    """Exact two-sided acceptance interval [lo, hi] of Binomial(n, p), p a Fraction.

    Returns (lo, hi, false_fail): lo is the largest value with P(X < lo) <= alpha_per_tail,
    hi the smallest with P(X > hi) <= alpha_per_tail, false_fail = P(X < lo) + P(X > hi).
    The terms comb(n, k) p^k (1-p)^(n-k) are summed as exact rationals (integers over the
    common denominator), so there is no rounding at all.
    """
    num, den = p.numerator, p.denominator
    total = den ** n
    term = [comb(n, k) * num ** k * (den - num) ** (n - k) for k in range(n + 1)]
    limit = alpha_per_tail * total
    lo, tail = 0, 0
    while tail + term[lo] <= limit:
        tail += term[lo]
        lo += 1
    low_tail = Fraction(tail, total)
    hi, tail = n, 0
    while tail + term[hi] <= limit:
        tail += term[hi]
        hi -= 1
    return lo, hi, low_tail + Fraction(tail, total)
