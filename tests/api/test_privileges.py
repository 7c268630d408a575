"""Who runs what: unprivileged workers, a socket only nginx's group reaches, no trusted database.

Issue 9 ("The edge"): the master started as root drops to CRM_USER before it serves, so no
worker or drainer runs as root; the stack's socket is 0660 with the group nginx's workers are in
(CRM_SOCKET_GROUP); PostgreSQL accepts no TCP connection without a password, and the
application's role is not a superuser; the password reaches libpq through a file, never a
command line or an environment variable's value.
"""
import grp
import os
import pwd
import stat
import subprocess
import tempfile

import pytest
from helpers import child_pids as children, master_pid, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_TEST_APP_DSN", "CRM_BIN", "CRM_TEST_PIDFILE")

CRM_USER = os.environ.get("CRM_USER", "crm")
SOCKET_GROUP = os.environ.get("CRM_SOCKET_GROUP", "www-data")


def status_of(pid):
    """{'Name': ..., 'Uid': [real, effective, saved, fs], 'Gid': [...], 'Groups': [...]}"""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
            elif key == "Name":
                out[key] = value.strip()
    return out


def assert_unprivileged(pid, user=CRM_USER):
    st = status_of(pid)
    pw = pwd.getpwnam(user)
    assert st["Uid"] == [pw.pw_uid] * 4, st
    assert st["Gid"] == [pw.pw_gid] * 4, st
    assert 0 not in st["Uid"] and 0 not in st["Gid"] and 0 not in st["Groups"], st
    return st


def test_master_workers_and_drainer_run_as_crm_user_not_root():
    master = master_pid()
    assert_unprivileged(master)
    kids = children(master)
    names = sorted(assert_unprivileged(k)["Name"] for k in kids)
    assert names.count("crm-drainer") == 1, names
    assert names.count("crm-worker") == int(os.environ.get("CRM_TEST_WORKERS", "1")), names


def test_socket_is_0660_owned_by_crm_with_nginx_group():
    sock = os.path.join(os.path.dirname(os.environ["CRM_TEST_PIDFILE"]), "crm.sock")
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert grp.getgrgid(st.st_gid).gr_name == SOCKET_GROUP
    assert pwd.getpwuid(st.st_uid).pw_name == CRM_USER


def connect_as(user, path):
    """Exit status of connecting to the unix socket `path` as OS user `user`: 0 connected,
    13 permission denied."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(13)\n")
    return subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", code, path],
                          capture_output=True, timeout=30).returncode


def test_nginx_user_reaches_the_socket_and_others_do_not():
    sock = os.path.join(os.path.dirname(os.environ["CRM_TEST_PIDFILE"]), "crm.sock")
    nginx_user = "www-data"
    if SOCKET_GROUP != "www-data" or not any(u.pw_name == nginx_user for u in pwd.getpwall()):
        pytest.skip("the stack's socket group is not www-data")
    assert connect_as(nginx_user, sock) == 0
    assert connect_as("nobody", sock) == 13


def dsn_params(dsn):
    import psycopg2.extensions
    return psycopg2.extensions.parse_dsn(dsn)


@pytest.mark.parametrize("role", ["crm", "postgres"])
def test_tcp_connection_without_a_password_is_refused(role):
    import psycopg2
    params = dsn_params(os.environ["CRM_TEST_APP_DSN"])
    with pytest.raises(psycopg2.OperationalError) as exc:
        psycopg2.connect(host="127.0.0.1", port=params.get("port", "5432"), dbname="crm", user=role,
                         passfile="/nonexistent", connect_timeout=5)
    assert "password" in str(exc.value)


def test_no_trust_rule_and_passwords_only_in_files(db_rows):
    methods = {m for (m,) in db_rows("SELECT auth_method FROM pg_hba_file_rules WHERE error IS NULL")}
    assert methods and "trust" not in methods and "password" not in methods and "md5" not in methods, methods
    for name in ("CRM_TEST_APP_DSN", "CRM_TEST_DSN"):
        params = dsn_params(os.environ[name])
        assert "password" not in params, f"{name} carries a password"
        assert "passfile" in params
    app_passfile = dsn_params(os.environ["CRM_TEST_APP_DSN"])["passfile"]
    st = os.stat(app_passfile)
    assert stat.S_IMODE(st.st_mode) == 0o600 and pwd.getpwuid(st.st_uid).pw_name == CRM_USER
    # the running service: no password in its command line or environment
    master = master_pid()
    for what in ("cmdline", "environ"):
        with open(f"/proc/{master}/{what}", "rb") as f:
            text = f.read()
        assert b"password=" not in text.lower() and b"PGPASSWORD" not in text, what
    assert b"passfile=" in open(f"/proc/{master}/environ", "rb").read()


def test_application_role_is_not_a_superuser(db_rows):
    import psycopg2
    role = dsn_params(os.environ["CRM_TEST_APP_DSN"]).get("user", "crm")
    assert db_rows("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles"
                   " WHERE rolname = %s", (role,)) == [(False, False, False, False, False)]
    conn = psycopg2.connect(os.environ["CRM_TEST_APP_DSN"])
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW is_superuser")
            assert cur.fetchone() == ("off",)
    finally:
        conn.close()


def serve_once(env, timeout=15):
    """Runs `crm serve` that is expected to refuse to start: (exit status, output)."""
    r = subprocess.run([os.environ["CRM_BIN"], "serve"], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_serve_as_root_without_crm_user_refuses_and_creates_nothing():
    with tempfile.TemporaryDirectory() as tmp:
        sock = f"{tmp}/crm.sock"
        env = {k: v for k, v in os.environ.items() if k != "CRM_USER"}
        env.update({"CRM_DATABASE_URL": os.environ["CRM_TEST_APP_DSN"], "CRM_LISTEN": f"unix:{sock}",
                    "CRM_WORKERS": "1", "CRM_PID_FILE": f"{tmp}/crm.pid"})
        rc, out = serve_once(env)
        assert rc == 2, out
        assert "CRM_USER" in out and "root" in out, out
        assert not os.path.exists(sock) and not os.path.exists(f"{tmp}/crm.pid")
        rc, out = serve_once(dict(env, CRM_USER="root"))
        assert rc == 2 and "CRM_USER" in out, out
        rc, out = serve_once(dict(env, CRM_USER="no-such-user-crm"))
        assert rc == 2 and "no user" in out, out
        rc, out = serve_once(dict(env, CRM_USER=CRM_USER, CRM_SOCKET_MODE="0666"))
        assert rc == 2 and "CRM_SOCKET_MODE" in out, out
        assert not os.path.exists(sock)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_a_master_started_as_root_drops_before_migrating_and_workers_restart_unprivileged(extra_master):
    """The extra master runs migrations (CRM_AUTO_MIGRATE=on) after the drop, and the worker
    that replaces a killed one and the ones SIGHUP starts are unprivileged too."""
    import signal

    sock, log = extra_master({"CRM_USER": CRM_USER, "CRM_SOCKET_GROUP": SOCKET_GROUP, "CRM_AUTO_MIGRATE": "on"})
    with open(log) as f:
        text = f.read()
    assert f"running as user {CRM_USER}" in text, text
    st = os.stat(sock)
    assert stat.S_IMODE(st.st_mode) == 0o660 and grp.getgrgid(st.st_gid).gr_name == SOCKET_GROUP
    # the master is the process whose children serve this socket: found through the log's pid
    line = next(ln for ln in text.splitlines() if f"running as user {CRM_USER}" in ln)
    master = int(line.split("[", 1)[1].split("]", 1)[0])
    assert_unprivileged(master)
    first = sorted(children(master))
    assert len(first) == 3  # 2 workers and the drainer
    os.kill(first[0], signal.SIGKILL)
    wait_until(lambda: len(children(master)) == 3 and first[0] not in children(master), 10,
               "the killed worker is replaced")
    os.kill(master, signal.SIGHUP)
    wait_until(lambda: len(children(master)) == 3 and not set(children(master)) & set(first), 15,
               "SIGHUP replaces every worker")
    for k in children(master):
        assert_unprivileged(k)
