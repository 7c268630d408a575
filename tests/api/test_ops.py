"""Operations: migrations (idempotent, concurrent-safe) and worker supervision."""

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from helpers import child_pids, keyed_session, master_pid, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN",
            "CRM_TEST_PIDFILE", "CRM_TEST_WORKERS")

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402
import requests  # noqa: E402

CRM_BIN = os.environ["CRM_BIN"]
SUPER_DSN = os.environ["CRM_TEST_DSN"]
APP_DSN = os.environ["CRM_TEST_APP_DSN"]
MIGRATE_TIMEOUT = 120

# Catalog queries whose results describe the schema the migrations build.
# Everything outside the system schemas counts.
_USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'")
CATALOG_QUERIES = {
    "relations": f"""
        SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'f')
        ORDER BY 1, 2""",
    "columns": f"""
        SELECT n.nspname, c.relname, a.attnum, a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {_USER_NS} AND c.relkind IN ('r', 'p', 'v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2, 3""",
    "constraints": f"""
        SELECT n.nspname, c.conrelid::regclass::text, c.conname, c.contype,
               pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE {_USER_NS}
        ORDER BY 1, 2, 3""",
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1, 2, 3""",
    "triggers": f"""
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND NOT t.tgisinternal
        ORDER BY 1, 2, 3""",
    "functions": f"""
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               md5(pg_get_functiondef(p.oid))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_NS} AND p.prokind IN ('f', 'p')
        ORDER BY 1, 2, 3""",
    "types": f"""
        SELECT n.nspname, t.typname, t.typtype,
               array(SELECT e.enumlabel::text FROM pg_enum e
                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {_USER_NS} AND t.typtype IN ('e', 'd')
        ORDER BY 1, 2""",
}


def query(dsn, sql, params=()):
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def catalog(dsn):
    return {name: query(dsn, sql) for name, sql in CATALOG_QUERIES.items()}


def migrations(dsn):
    return query(dsn, "SELECT version, name, applied_at FROM crm_migrations ORDER BY version")


def with_db(dsn, dbname):
    return psycopg2.extensions.make_dsn(dsn, dbname=dbname)


def migrate_env(dsn):
    env = dict(os.environ)
    env["CRM_DATABASE_URL"] = dsn
    return env


def run_migrate(dsn):
    return subprocess.run([CRM_BIN, "migrate"], env=migrate_env(dsn), capture_output=True,
                          text=True, timeout=MIGRATE_TIMEOUT)


# ---------------------------------------------------------------- migrations


def test_migrate_twice_is_a_noop():
    schema_before = catalog(SUPER_DSN)
    versions_before = migrations(SUPER_DSN)
    assert versions_before, "crm_migrations is empty although the service is running"

    first = run_migrate(APP_DSN)
    assert first.returncode == 0, f"first migrate failed: {first.stderr[-2000:]}"
    after_first = (migrations(SUPER_DSN), catalog(SUPER_DSN))

    second = run_migrate(APP_DSN)
    assert second.returncode == 0, f"second migrate failed: {second.stderr[-2000:]}"
    after_second = (migrations(SUPER_DSN), catalog(SUPER_DSN))

    # the running service already applied everything, so neither run changes anything
    assert after_first[0] == versions_before
    assert after_second[0] == versions_before
    for name in CATALOG_QUERIES:
        assert after_first[1][name] == schema_before[name], f"{name} changed by migrate"
        assert after_second[1][name] == schema_before[name], f"{name} changed by 2nd migrate"


def test_migration_versions_are_unique():
    rows = query(SUPER_DSN, "SELECT version, count(*) FROM crm_migrations"
                            " GROUP BY version HAVING count(*) > 1")
    assert rows == []


@pytest.fixture
def fresh_database():
    """A new empty database owned by the app role; dropped afterwards."""
    owner = psycopg2.extensions.parse_dsn(APP_DSN).get("user") or "crm"
    name = "crm_mig_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(SUPER_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_concurrent_migrations_on_fresh_database(fresh_database):
    app_dsn = with_db(APP_DSN, fresh_database)
    super_dsn = with_db(SUPER_DSN, fresh_database)
    cmd = [CRM_BIN, "migrate"]
    procs = [subprocess.Popen(cmd, env=migrate_env(app_dsn), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=MIGRATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail(f"migrate hung: {err[-2000:]}")
        results.append((p.returncode, err))
    for i, (rc, err) in enumerate(results):
        assert rc == 0, f"concurrent migrate #{i} exited {rc}: {err[-2000:]}"

    rows = query(super_dsn, "SELECT version, count(*) FROM crm_migrations GROUP BY version"
                            " ORDER BY version")
    assert rows, "no migrations recorded"
    assert all(n == 1 for _, n in rows), f"a version was recorded twice: {rows}"
    # the same versions as the main test database, and the same schema
    assert [v for v, _ in rows] == [v for v, _, _ in migrations(SUPER_DSN)]
    fresh, main = catalog(super_dsn), catalog(SUPER_DSN)
    for name in CATALOG_QUERIES:
        assert fresh[name] == main[name], f"{name} differs after concurrent migrate"

    # and a third run on the result is a no-op
    before = (migrations(super_dsn), fresh)
    third = run_migrate(app_dsn)
    assert third.returncode == 0, third.stderr[-2000:]
    assert (migrations(super_dsn), catalog(super_dsn)) == before


# ---------------------------------------------------------------- supervision


def children(pid, comm="crm-worker"):
    """Children of the master named `comm` (workers; the backlog drainer is "crm-drainer")."""
    kids = []
    for x in child_pids(pid):
        try:
            with open(f"/proc/{x}/comm") as f:
                if f.read().strip() == comm:
                    kids.append(int(x))
        except OSError:  # exited meanwhile
            pass
    return sorted(kids)


def wait_for_workers(pid, n, timeout, exclude=()):
    """The master's workers once there are n of them and none is in `exclude`; after `timeout`
    seconds, whatever workers there are then."""
    return wait_until(lambda: steady(children(pid), n, exclude), timeout) or children(pid)


def steady(kids, n, exclude):
    return kids if len(kids) == n and not set(kids) & set(exclude) else None


def test_master_runs_configured_worker_count():
    workers = int(os.environ["CRM_TEST_WORKERS"])
    kids = wait_for_workers(master_pid(), workers, 5)
    assert len(kids) == workers, f"master has children {kids}, expected {workers}"


def test_killed_worker_is_replaced_and_service_keeps_answering(base_url, make_operator):
    workers = int(os.environ["CRM_TEST_WORKERS"])
    master = master_pid()
    kids = wait_for_workers(master, workers, 5)
    assert len(kids) == workers, f"not steady before the test: {kids}"

    op = make_operator()
    url = f"{base_url}/api/operators/{op['id']}"
    n_threads = 4
    stop = threading.Event()
    results = []  # (start, end, outcome) with outcome 200 or a description
    lock = threading.Lock()

    def fire():
        session = keyed_session()
        while not stop.is_set():
            start = time.monotonic()
            try:
                r = session.get(url, timeout=10)
                outcome = r.status_code
                if outcome == 200 and r.json() != op:
                    outcome = f"wrong body {r.text[:200]!r}"
            except (requests.RequestException, ValueError) as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with lock:
                results.append((start, time.monotonic(), outcome))
        session.close()

    def answered(after, n):  # at least n requests started after `after` were answered 200
        with lock:
            return sum(1 for r in results if r[0] > after and r[2] == 200) >= n

    threads = [threading.Thread(target=fire, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    wait_until(lambda: answered(0, 4 * n_threads), 10)  # traffic flows before the kill
    victim = kids[len(kids) // 2]
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # traffic goes on until the master has replaced the victim (checked below), and for 10
    # answered requests after that
    wait_for_workers(master, workers, 2.5, exclude=(victim,))
    replaced_at = time.monotonic()
    wait_until(lambda: answered(replaced_at, 10), 10)
    stop.set()
    for t in threads:
        t.join(15)

    before_kill = [r for r in results if r[1] < killed_at]
    after_kill = [r for r in results if r[0] > killed_at]
    failures = [r for r in results if r[2] != 200]
    assert before_kill and all(r[2] == 200 for r in before_kill), before_kill[:5]
    # only requests in flight at the moment of the kill may fail
    assert len(failures) <= n_threads, failures[:10]
    for start, end, outcome in failures:
        assert start <= killed_at + 0.1, f"request started after the kill failed: {outcome}"
    assert sum(1 for r in after_kill if r[2] == 200) >= 10, "service stopped answering"

    # the master is alive and has replaced the victim within a few seconds
    assert master_pid() == master
    new_kids = wait_for_workers(master, workers, 5, exclude=(victim,))
    assert len(new_kids) == workers and victim not in new_kids, (
        f"children after kill: {new_kids} (victim {victim})")
    assert set(new_kids) - set(kids), "no new worker pid appeared"

    session = keyed_session()
    for _ in range(20):
        r = session.get(url, timeout=10)
        assert r.status_code == 200 and r.json() == op
    session.close()
