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

The plain helpers the fixtures use, and that test modules import themselves,
live in helpers.py. The markers `slow`, `load` and `deadline` are registered here.

Tests never assume empty tables: they create their own rows with unique
names and compare row counts before/after, or filter by the ids they made.
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest
from fastcgi import fcgi
from helpers import ApiClient, PerThread, check_json, check_problem, configure, unique, wait_until


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "load: drives thousands of requests from many clients (minutes under a sanitizer)")
    config.addinivalue_line(
        "markers", "deadline: asserts that background work meets a time bound (a timer within 1 s); "
        "not run against the sanitizer build, which is several times slower")
    config.addinivalue_line(
        "markers", "slow: takes seconds because it waits for background work (drainer sweeps, "
        "extra masters, a worker restart)")


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through tests/run)")
    return value


@pytest.fixture(scope="session")
def base_url():
    return _env("CRM_TEST_URL").rstrip("/")


@pytest.fixture(scope="session")
def api(base_url):
    client = ApiClient(base_url)
    yield client
    client.close()


@pytest.fixture()
def per_thread(base_url):
    """PerThread(base_url): one ApiClient per thread, for tests that send from many threads."""
    with PerThread(base_url) as clients:
        yield clients


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


@pytest.fixture(scope="session")
def assert_problem():
    """assert_problem(resp, status, fields=None) -> parsed problem body."""
    return check_problem


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


@pytest.fixture()
def extra_master():
    """start(env) -> (socket path, log path) of one more master on a unix socket of its own, with
    the given CRM_* settings (2 workers unless CRM_WORKERS says otherwise), spoken to with
    fastcgi.fcgi(); stopped (its process group killed if it hangs) and cleaned up afterwards."""
    started = []
    tmp = tempfile.mkdtemp(prefix="crm-master-")

    def start(extra):
        sock = f"{tmp}/crm{len(started)}.sock"
        env = dict(os.environ)
        env.update({"CRM_DATABASE_URL": _env("CRM_TEST_APP_DSN"), "CRM_LISTEN": f"unix:{sock}", "CRM_WORKERS": "2",
                    "CRM_AUTO_MIGRATE": "off", "CRM_LOG_LEVEL": "info"})
        env.update(extra)
        log = open(f"{tmp}/crm{len(started)}.log", "w")
        proc = subprocess.Popen([_env("CRM_BIN"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        started.append((proc, log))

        def ready():
            try:
                return fcgi(sock, "GET", "/api/operators", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(ready, 10, "the extra master answers")
        return sock, log.name

    yield start
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # e.g. the drainer inside a long sweep: the whole group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    shutil.rmtree(tmp, ignore_errors=True)
