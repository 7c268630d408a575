"""`crm serve` refuses to start over a live master (issue 12, "Graceful everything").

A second `crm serve` given the socket path of a running master used to unlink that socket and
bind its own: the running master kept serving nobody, silently. Now the socket is replaced only
when nothing accepts on it (a file left by a master that died), and a pid file naming a live
`crm serve` is refused too.
"""
import os
import socket
import subprocess
import tempfile

import pytest
from fastcgi import fcgi
from helpers import require_env, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="serve drops to CRM_USER: needs root")


def serve_env(sock, pidfile):
    env = dict(os.environ)
    env.update({"CRM_DATABASE_URL": os.environ["CRM_TEST_APP_DSN"], "CRM_LISTEN": f"unix:{sock}",
                "CRM_WORKERS": "1", "CRM_AUTO_MIGRATE": "off", "CRM_USER": os.environ.get("CRM_USER", "crm")})
    if pidfile:
        env["CRM_PID_FILE"] = pidfile
    return env


def refused(env):
    r = subprocess.run([os.environ["CRM_BIN"], "serve"], env=env, capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr


def answers(sock):
    try:
        return fcgi(sock, "GET", "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


@pytest.fixture()
def tmpdir_shared():
    """A directory CRM_USER can write (the master removes its socket and pid file after the drop)."""
    require_env("CRM_BIN", "CRM_TEST_APP_DSN")
    with tempfile.TemporaryDirectory(prefix="crm-guard-") as tmp:
        os.chmod(tmp, 0o777)
        yield tmp


def test_a_second_serve_leaves_a_live_masters_socket_and_pid_file_alone(extra_master, tmpdir_shared):
    pidfile = f"{tmpdir_shared}/crm.pid"
    sock, _ = extra_master({"CRM_PID_FILE": pidfile})
    before = os.stat(sock).st_ino

    rc, out = refused(serve_env(sock, None))
    assert rc != 0 and "held by a live master" in out, out
    assert os.stat(sock).st_ino == before  # not unlinked and bound anew
    assert answers(sock)

    rc, out = refused(serve_env(f"{tmpdir_shared}/other.sock", pidfile))
    assert rc != 0 and "names a live master" in out, out
    assert not os.path.exists(f"{tmpdir_shared}/other.sock")
    assert open(pidfile).read().strip().isdigit() and answers(sock)


def test_a_socket_left_by_a_dead_master_and_a_stale_pid_file_are_replaced(tmpdir_shared):
    sock, pidfile = f"{tmpdir_shared}/stale.sock", f"{tmpdir_shared}/stale.pid"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)  # bound, never listening, closed: what a killed master leaves behind
    s.close()
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")  # a pid that no longer runs
    proc = subprocess.Popen([os.environ["CRM_BIN"], "serve"], env=serve_env(sock, pidfile),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: answers(sock), 10, "serve over a stale socket answers")
        assert open(pidfile).read().strip() == str(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)
