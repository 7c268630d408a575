"""SIGHUP reads the configuration again (issue 12, "Graceful everything"): CRM_CONFIG_FILE's
values reach the new workers, with not one failed request during the reload; settings that need
a restart are logged as ignored; a bad file keeps the configuration the workers had.

The test stack starts `crm serve` with CRM_CONFIG_FILE=<run dir>/crm.conf, empty (stack.sh);
every test here leaves it empty again and reloads, so the other tests see the defaults.
The observable setting is CRM_BODY_LIMIT: a 3 kB body is 201 under the default 1 MiB and 413
under a 2048-byte limit (nginx's own limit is 1 MiB, so the 413 is the workers')."""
import os
import signal
import time
import uuid

import pytest
from helpers import child_pids, master_pid, posting, require_env, wait_until

require_env("CRM_TEST_PIDFILE", "CRM_TEST_LOG")
CONF = os.path.join(os.path.dirname(os.environ["CRM_TEST_PIDFILE"]), "crm.conf")
CLIENTS = 8


def write_conf(text):
    with open(CONF, "w") as f:
        f.write(text)


def log_size():
    return os.path.getsize(os.environ["CRM_TEST_LOG"])


def log_since(offset):
    with open(os.environ["CRM_TEST_LOG"], "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def reload_and_wait(master):
    """SIGHUP, then until none of the workers (and drainer) of before is left and as many serve."""
    before = set(child_pids(master))
    os.kill(master, signal.SIGHUP)
    wait_until(lambda: not (set(child_pids(master)) & before) and len(child_pids(master)) == len(before), 20,
               "every worker replaced after SIGHUP")


def big_contact(api, source_id):
    """POST a contact whose body is about 3 kB (an ignored member pads it); returns the response."""
    body = {"email": f"big-{uuid.uuid4().hex[:12]}@reload.test", "source_id": source_id, "pad": "x" * 3000}
    return api.post("/api/contacts", json=body)


@pytest.fixture()
def conf():
    """The configuration file, empty again (and reloaded) after the test whatever happened."""
    master = master_pid()
    yield master
    write_conf("")
    reload_and_wait(master)


@pytest.fixture()
def source(api, make_source, make_operator):
    src = make_source()
    op = make_operator(max_load_limit=1000000)
    r = api.post(f"/api/sources/{src['id']}/operators", json={"operators": [{"operator_id": op["id"], "weight": 1}]})
    assert r.status_code == 200, r.text
    return src["id"]


@pytest.mark.load
def test_sighup_applies_the_config_file_under_load_without_a_failed_request(conf, api, per_thread, source):
    master = conf
    assert big_contact(api, source).status_code == 201  # under the default limit
    with posting(per_thread, source, "cfg", CLIENTS) as codes:
        time.sleep(1.0)
        offset = log_size()
        write_conf("# set by test_reload_config\nCRM_BODY_LIMIT=2048\n")
        reload_and_wait(master)
        r = big_contact(api, source)
        assert r.status_code == 413, r.text
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert "configuration reloaded from the environment and " + CONF in log_since(offset)
        time.sleep(1.0)
    bad = [c for c in codes if c[0] != 201]
    assert len(codes) > 100 and not bad, (len(codes), bad[:5])
    write_conf("")
    reload_and_wait(master)
    assert big_contact(api, source).status_code == 201  # the default again


def test_a_bad_config_file_keeps_the_old_configuration(conf, api, source):
    master = conf
    write_conf("CRM_BODY_LIMIT=2048\n")
    reload_and_wait(master)
    assert big_contact(api, source).status_code == 413
    offset = log_size()
    write_conf("CRM_BODY_LIMIT=1048576\nCRM_BODY_LIMTI=4096\n")  # a typo in a name: the whole file is refused
    reload_and_wait(master)
    assert big_contact(api, source).status_code == 413  # still 2048: the old configuration
    log = log_since(offset)
    assert "configuration not reloaded" in log and "line 2: CRM_BODY_LIMTI is not a setting" in log, log[-2000:]
    offset = log_size()
    write_conf("CRM_BODY_LIMIT=nine\n")
    reload_and_wait(master)
    assert big_contact(api, source).status_code == 413
    assert "CRM_BODY_LIMIT: expected bytes" in log_since(offset)


def test_settings_that_need_a_restart_are_logged_and_kept(conf, api, source):
    master = conf
    workers = len(child_pids(master))
    offset = log_size()
    write_conf(f"CRM_WORKERS={workers + 3}\nCRM_LISTEN=127.0.0.1:1\nCRM_BODY_LIMIT=2048\n")
    reload_and_wait(master)
    log = log_since(offset)
    assert "CRM_WORKERS changed" in log and "ignored until serve restarts" in log, log[-2000:]
    assert "CRM_LISTEN changed: ignored until serve restarts" in log
    assert len(child_pids(master)) == workers
    assert big_contact(api, source).status_code == 413  # the rest of the file is taken
