"""Plain helpers and constants shared by the mini-crm API tests.

Test modules import what they use with `from helpers import ...` (pytest puts tests/api on
sys.path); the fixtures built on these live in conftest.py. A helper belongs here as soon as a
second test module needs it, instead of a copy in each module.
"""

import contextlib
import datetime
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from math import comb

import pytest
import requests

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"

OPERATOR_KEYS = {"id", "name", "is_active", "max_load_limit", "active_contacts", "schedule", "on_shift"}
SOURCE_KEYS = {"id", "name", "description", "accept_timeout_seconds", "mode", "sticky_window_seconds"}
ENTRY_KEYS = {"id", "operator_id", "source_id", "weight"}
CONTACT_KEYS = {"id", "lead_id", "source_id", "operator_id", "status", "created_at", "accepted_at"}

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


def unique(prefix="t"):
    """A short unique name, safe to use under the 200-character limits."""
    return f"{prefix}-{uuid.uuid4().hex}"


def new_email(tag="e"):
    """A unique, lower-case e-mail address."""
    return f"{tag}-{uuid.uuid4().hex}@example.com"


def api_key():
    """The admin key the suite runs with: CRM_TEST_API_KEY (tests/run sets it from the test
    stack's .local/test/api-key), or None outside tests/run."""
    return os.environ.get("CRM_TEST_API_KEY") or None


def auth_headers(key="admin"):
    """{"Authorization": "Bearer <key>"} for `key` ("admin": the suite's admin key; None: {})."""
    if key == "admin":
        key = api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def keyed_session(key="admin"):
    """A plain requests.Session that sends `key` (see auth_headers) with every request: for the
    tests that need a Session of their own (streams, threads); paths need the base URL."""
    s = requests.Session()
    s.headers.update(auth_headers(key))
    return s


class ApiClient(requests.Session):
    """requests.Session whose get/post/patch/... take a path like /api/operators, and send
    `Authorization: Bearer <key>`: the suite's admin key unless another is given (None: no
    Authorization header, e.g. to see the 401)."""

    def __init__(self, base_url, key="admin"):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.headers.update(auth_headers(key))

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


def check_json(resp, status):
    """Assert a JSON (non-problem) answer with this status; return the body."""
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.text[:500]!r}"
    )
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == JSON_TYPE, f"Content-Type {ctype!r}"
    return resp.json()


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


def post(api, assert_json, source_id, operator_id="any", email=None):
    """POST a contact (a fresh email unless given): 201 with Location, a contact of this source,
    active, and assigned to operator_id unless "any". Returns the body."""
    resp = api.post("/api/contacts", json={"email": email or new_email(), "source_id": source_id})
    body = assert_json(resp, 201)
    assert isinstance(body, dict) and set(body) == CONTACT_KEYS, body
    assert body["source_id"] == source_id and body["status"] == "active", body
    assert resp.headers.get("Location") == f"/api/contacts/{body['id']}", resp.headers
    if operator_id != "any":
        assert body["operator_id"] == operator_id, body
    return body


def patch_contact(api, contact_id, body):
    """PATCH /api/contacts/{contact_id} with `body`; returns the response."""
    return api.patch(f"/api/contacts/{contact_id}", json=body)


def simultaneous(base_url, calls, warm_path=None):
    """Send every (method, path, json_body) of `calls` at once, each from its own session and
    thread, released together by a barrier; returns the responses in the order of `calls`.
    With warm_path, every session first GETs it, so that its connection is open beforehand and
    the requests leave as close together as possible."""
    sessions = [keyed_session() for _ in calls]
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


class PerThread:
    """One ApiClient per thread (a requests.Session must not be shared between threads), all
    closed by close() or at the end of a `with` block."""

    def __init__(self, base_url, key="admin"):
        self.base_url = base_url
        self.key = key
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients = []

    def client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = ApiClient(self.base_url, self.key)
            with self._lock:
                self._clients.append(client)
        return client

    def post(self, path, body):
        return self.client().post(path, json=body, timeout=60)

    def patch(self, path, body):
        return self.client().patch(path, json=body, timeout=60)

    def operator(self, name, limit):
        """A new operator (201 asserted); its id."""
        r = self.post("/api/operators", {"name": name, "max_load_limit": limit})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def source(self, name, weights, **fields):
        """A new source configured with {operator_id: weight} (201, 200 asserted), then PATCHed
        with `fields` if any (200, and the answer holds each field as given); its id."""
        r = self.post("/api/sources", {"name": name})
        assert r.status_code == 201, r.text
        s = r.json()["id"]
        r = self.post(f"/api/sources/{s}/operators",
                      {"operators": [{"operator_id": o, "weight": w} for o, w in weights.items()]})
        assert r.status_code == 200, r.text
        if fields:
            r = self.patch(f"/api/sources/{s}", fields)
            assert r.status_code == 200 and all(r.json()[k] == v for k, v in fields.items()), r.text
        return s

    def close(self):
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pooled_posts(base_url, source_id, n, threads=8, tag="p"):
    """n contacts (fresh emails) POSTed to a source by `threads` threads, one session each;
    returns the responses in posting order."""
    unique_part = uuid.uuid4().hex
    with PerThread(base_url) as clients, ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda i: clients.post(
            "/api/contacts", {"email": f"{tag}{i}-{unique_part}@example.com", "source_id": source_id}),
            range(n)))


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


def operators_of(db_rows, ids):
    """The stored operator_id of each contact id, in the given order."""
    got = dict(db_rows("SELECT id, operator_id FROM contacts WHERE id = ANY(%s)", (list(ids),)))
    return [got[i] for i in ids]


def drains_idle(db_rows):
    """True when no session is inside a backlog drain (a request's batch or the drainer's pass)."""
    return db_rows(
        "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid()"
        " AND query ~ 'crm_drain_(all|sources|next)'")[0][0] == 0


def crm_log_path():
    """The test stack's crm log."""
    if os.environ.get("CRM_TEST_LOG"):
        return os.environ["CRM_TEST_LOG"]
    run_dir = os.path.dirname(os.environ["CRM_TEST_PIDFILE"])  # stack.sh: <stack>/run, <stack>/log
    return os.path.join(os.path.dirname(run_dir), "log", "crm.log")


class LogTail:
    """What a log file (crm's, PostgreSQL's) gained since this was created."""

    def __init__(self, path):
        self.path = path
        self.start = os.path.getsize(path)

    def read(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read()

    def wait_for(self, *needles, timeout=5):
        """The new text once it holds every needle (a worker logs right after it answers)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.read()
            if all(n in text for n in needles) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


@contextlib.contextmanager
def schema_change(db, do, undo):
    """The statements `do` (a constraint, trigger or table a test adds behind the API's back) in
    force for the block; `undo` runs after it, whatever happened. `db`: an autocommit connection."""
    with db.cursor() as cur:
        for statement in do:
            cur.execute(statement)
    try:
        yield
    finally:
        with db.cursor() as cur:
            for statement in undo:
                cur.execute(statement)


def wait_until(cond, timeout, what=None, interval=0.05):
    """Poll cond() until it returns a true value, for at most `timeout` seconds; returns that
    value. On timeout: with `what`, fail with "not within <timeout> s: <what>"; without, return
    the last (false) value, for the caller's assert to report. Use it only where there is no
    blocking primitive to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            assert what is None, f"not within {timeout} s: {what}"
            return value
        time.sleep(interval)


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


def master_pid():
    """The test stack's crm master (CRM_TEST_PIDFILE), checked to be alive."""
    require_env("CRM_TEST_PIDFILE")
    with open(os.environ["CRM_TEST_PIDFILE"]) as f:
        text = f.read().strip()
    assert text.isdigit(), f"pid file holds {text!r}"
    pid = int(text)
    os.kill(pid, 0)  # raises if the master is gone
    return pid


def child_pids(pid):
    """The children of a process (its workers and the drainer for a master), sorted."""
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(p) for p in f.read().split()]
    return sorted(kids)



@contextlib.contextmanager
def posting(per_thread, source_id, prefix, clients=8):
    """`clients` threads POST contacts of source_id (emails <prefix>-<tag>-<n>-<i>@reload.test) as
    fast as they can while the block runs; yields the list of (status, first 200 bytes of the
    body) of every answer, complete once the block has ended (the threads are joined)."""
    tag = uuid.uuid4().hex[:8]
    stop = threading.Event()
    codes, lock = [], threading.Lock()

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            r = per_thread.post("/api/contacts", {"email": f"{prefix}-{tag}-{n}-{i}@reload.test",
                                                  "source_id": source_id})
            with lock:
                codes.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    try:
        yield codes
    finally:
        stop.set()
        for t in threads:
            t.join()
