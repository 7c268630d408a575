"""GET /metrics: Prometheus text summed over every worker of the master (README "Metrics").

The counters live in shared memory, one slot per worker; a scrape on any worker sums them. So
200 requests that several workers serve raise the counter of their route, method and code by
exactly 200, whichever worker answers the scrape."""

import math
import os
import re
import shutil
import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import ApiClient, PerThread, check_json, check_problem, configure, require_env, unique, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_PIDFILE", "CRM_TEST_WORKERS")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def parse(text):
    """The text exposition format 0.0.4, strictly: {(name, frozenset(labels)): value}; fails on
    a malformed line, a sample without its family's TYPE, or a repeated series."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, f"TYPE repeated: {line}"
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"malformed line {line!r}"
        name, labels_text, value = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, f"malformed labels in {line!r}"
                labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                pos = lm.end()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE"
        v = float(value)
        assert not math.isnan(v), line
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"series repeated: {line}"
        samples[key] = v
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client):
    r = client.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
    return parse(r.text)


@pytest.fixture(scope="module")
def metrics_key(api):
    key = check_json(api.post("/api/keys", json={"name": unique("prometheus"), "scopes": ["metrics"]}), 201)
    assert key["scopes"] == ["metrics"]
    return key


@pytest.fixture(scope="module")
def prom(base_url, metrics_key):
    client = ApiClient(base_url, metrics_key["key"])
    yield client
    client.close()


def worker_pids():
    with open(os.environ["CRM_TEST_PIDFILE"]) as f:
        master = f.read().strip()
    out = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    pids = []
    for p in out:
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "crm-worker":
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def switches(pid):
    """Voluntary context switches: a worker makes them only when it waits (accept, database,
    client), so an idle worker's count stands still."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_scopes_of_metrics(base_url, api, prom):
    check_problem(ApiClient(base_url, None).get("/metrics"), 401)
    read = check_json(api.post("/api/keys", json={"name": unique("reader"), "scopes": ["read"]}), 201)
    intake = check_json(api.post("/api/keys", json={"name": unique("intaker"), "scopes": ["intake"]}), 201)
    for k in (read, intake):
        with ApiClient(base_url, k["key"]) as c:
            problem = check_problem(c.get("/metrics"), 403)
            assert "metrics" in problem["detail"], problem
    assert api.get("/metrics").status_code == 200  # admin may
    assert prom.get("/metrics").status_code == 200
    # the metrics key reads /metrics and nothing else
    check_problem(prom.get("/api/operators"), 403)
    check_problem(prom.post("/api/contacts", json={"email": "x@example.com", "source_id": 1}), 403)
    check_problem(prom.get("/api/keys"), 403)
    check_problem(prom.post("/metrics", json={}), 405)


def test_metrics_key_from_the_cli_and_bad_scopes_refused(api):
    crm = os.environ.get("CRM_BIN")
    dsn = os.environ.get("CRM_TEST_APP_DSN")
    if crm and dsn:
        out = subprocess.run([crm, "keys", "create", "--name", unique("cli-prom"), "--scope", "metrics"],
                             env={**os.environ, "CRM_DATABASE_URL": dsn}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-500:]
        assert re.fullmatch(r"crm_[0-9a-f]{16}_[0-9a-f]{64}\n", out.stdout)
    check_problem(api.post("/api/keys", json={"name": unique("x"), "scopes": ["metric"]}), 422, ["scopes[0]"])
    five = ["admin", "intake", "agent", "read", "metrics"]
    check_json(api.post("/api/keys", json={"name": unique("all"), "scopes": five}), 201)


def test_200_requests_on_several_workers_count_exactly_200(base_url, api, prom, make_operator):
    op = make_operator()
    path = f"/api/operators/{op['id']}"
    pids = worker_pids()
    before_sw = {p: switches(p) for p in pids}
    before = scrape(prom)
    labels = dict(route="/api/operators/{id}", method="GET", code="200")

    with PerThread(base_url) as clients, ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda i: clients.client().get(path).status_code, range(200)))
    assert codes == [200] * 200

    after = scrape(prom)
    busy = [p for p in pids if switches(p) is not None and before_sw[p] is not None and switches(p) > before_sw[p]]
    assert len(busy) >= 2, f"the requests landed on {len(busy)} of {len(pids)} workers"
    assert value(after, "crm_http_requests_total", **labels) - value(before, "crm_http_requests_total", **labels) == 200
    # never the raw path
    assert not [k for k in after if dict(k[1]).get("route", "").startswith("/api/operators/") and
                dict(k[1])["route"] != "/api/operators/{id}"]
    # histogram: +Inf and _count equal the counter over codes, buckets cumulative
    hist = dict(route="/api/operators/{id}", method="GET")
    total = sum(v for (n, ls), v in after.items() if n == "crm_http_requests_total" and
                dict(ls).get("route") == hist["route"] and dict(ls).get("method") == "GET")
    count = value(after, "crm_http_request_duration_seconds_count", **hist)
    assert count == total
    buckets = [value(after, "crm_http_request_duration_seconds_bucket", le=b, **hist) for b in BOUNDS]
    assert buckets == sorted(buckets) and buckets[-1] == count, buckets
    assert value(after, "crm_http_request_duration_seconds_sum", **hist) > 0
    delta = [value(after, "crm_http_request_duration_seconds_bucket", le=b, **hist) -
             value(before, "crm_http_request_duration_seconds_bucket", le=b, **hist) for b in BOUNDS]
    assert delta[-1] == 200


def test_unmatched_paths_count_as_unmatched(api, prom):
    before = scrape(prom)
    raw = f"/api/nothing-{uuid.uuid4().hex}"
    for _ in range(3):
        assert api.get(raw).status_code == 404
    after = scrape(prom)
    key = dict(route="unmatched", method="GET", code="404")
    assert value(after, "crm_http_requests_total", **key) - value(before, "crm_http_requests_total", **key) == 3
    assert raw not in "".join(str(k) for k in after)


def test_intake_and_assignment_counters_move(api, prom, make_source, make_operator):
    src = make_source()
    op = make_operator(max_load_limit=1)
    configure(api, check_json, src["id"], [(op["id"], 1)])
    before = scrape(prom)
    first = check_json(api.post("/api/contacts", json={"email": f"m1-{uuid.uuid4().hex}@example.com",
                                                       "source_id": src["id"]}), 201)
    second = check_json(api.post("/api/contacts", json={"email": f"m2-{uuid.uuid4().hex}@example.com",
                                                        "source_id": src["id"]}), 201)
    assert first["operator_id"] == op["id"] and second["operator_id"] is None
    mid = scrape(prom)

    def d(s0, s1, name, **labels):
        return value(s1, name, **labels) - value(s0, name, **labels)

    assert d(before, mid, "crm_intake_total", outcome="assigned") == 1
    assert d(before, mid, "crm_intake_total", outcome="unassigned") == 1
    assert d(before, mid, "crm_assignments_total", reason="intake") == 1
    assert d(before, mid, "crm_assignments_total", reason="unassigned") == 1
    assert value(mid, "crm_backlog_waiting") >= 1
    assert value(mid, "crm_backlog_oldest_seconds") >= 0
    # closing the first frees the slot: the second is drained to the operator (in the same
    # transaction or by the drainer), and the backlog shrinks
    check_json(api.patch(f"/api/contacts/{first['id']}", json={"status": "closed"}), 200)
    wait_until(lambda: api.get(f"/api/contacts/{second['id']}").json()["operator_id"] == op["id"], 10,
               "the waiting contact is assigned")
    after = scrape(prom)
    assert value(after, "crm_backlog_waiting") <= value(mid, "crm_backlog_waiting")
    assert d(before, after, "crm_intake_total", outcome="assigned") == 1  # an intake counts once



def test_keyed_intakes_are_counted_once_and_replays_not(api, prom, make_source, make_operator):
    """A POST /api/contacts with an Idempotency-Key counts like one without (its intake runs in
    crm_idem_intake); its replay stores nothing and counts nothing."""
    src = make_source()
    op = make_operator(max_load_limit=1)
    configure(api, check_json, src["id"], [(op["id"], 1)])
    bodies = [{"email": f"mk{i}-{uuid.uuid4().hex}@example.com", "source_id": src["id"]} for i in range(2)]
    keys = [unique("mk") for _ in bodies]
    before = scrape(prom)
    made = [check_json(api.post("/api/contacts", json=b, headers={"Idempotency-Key": k}), 201)
            for b, k in zip(bodies, keys)]
    assert made[0]["operator_id"] == op["id"] and made[1]["operator_id"] is None
    again = api.post("/api/contacts", json=bodies[0], headers={"Idempotency-Key": keys[0]})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    after = scrape(prom)

    def d(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert d("crm_intake_total", outcome="assigned") == 1
    assert d("crm_intake_total", outcome="unassigned") == 1
    assert d("crm_assignments_total", reason="intake") == 1
    assert d("crm_assignments_total", reason="unassigned") == 1


def test_backlog_drained_by_a_request_is_counted(api, prom, make_source, make_operator):
    """A request that frees capacity drains the queue in its own transaction (README "Backlog");
    the drainer never sees those contacts waiting, yet crm_assignments_total{reason="backlog"}
    counts them: the transaction tells the drainer at commit (NOTIFY crm_drained)."""
    src = make_source()
    op = make_operator(max_load_limit=0)
    configure(api, check_json, src["id"], [(op["id"], 1)])
    for i in range(5):
        c = check_json(api.post("/api/contacts", json={"email": f"bd{i}-{uuid.uuid4().hex}@example.com",
                                                       "source_id": src["id"]}), 201)
        assert c["operator_id"] is None
    before = scrape(prom)
    check_json(api.patch(f"/api/operators/{op['id']}", json={"max_load_limit": 5}), 200)
    # the PATCH drained the five itself (a batch holds 16), before it answered
    waiting = [c for c in api.get(f"/api/contacts?source_id={src['id']}").json() if c["operator_id"] is None]
    assert not waiting, waiting

    def counted():
        return value(scrape(prom), "crm_assignments_total", reason="backlog") - \
            value(before, "crm_assignments_total", reason="backlog")
    wait_until(lambda: counted() >= 5, 5)
    assert counted() >= 5, counted()

def test_process_gauges_and_restarts(prom):
    workers = int(os.environ["CRM_TEST_WORKERS"])
    s = scrape(prom)
    assert value(s, "crm_workers") == workers
    assert 1 <= value(s, "crm_workers_busy") <= workers  # the scrape's own worker is busy
    assert [k for k in s if k[0] == "crm_build_info" and dict(k[1]).get("version")]
    restarts = value(s, "crm_worker_restarts_total")
    victim = worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in worker_pids() and len(worker_pids()) == workers, 10,
               "the killed worker is replaced")
    after = wait_until(lambda: (lambda t: t if value(t, "crm_worker_restarts_total") == restarts + 1 else None)(
        scrape(prom)), 10, "the restart is counted")
    assert value(after, "crm_workers") == workers


def test_exposition_passes_promtool(prom):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    text = prom.get("/metrics").text
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    # exit 3: a parse error; 1: a lint (a counter without _total, a missing HELP); 0: clean
    assert out.returncode == 0, (out.returncode, (out.stdout + out.stderr)[-2000:])


def test_reconnects_are_counted_once_per_lost_connection(db, api, prom):
    """Each worker and the drainer lose their connection once: each reconnects once, and
    nothing else (a first connect) counts as a reconnect."""
    before = value(scrape(prom), "crm_db_reconnects_total")
    with db.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                    " WHERE usename = 'crm' AND application_name = 'crm' AND pid <> pg_backend_pid()")
        found, gone = cur.fetchone()
    assert found >= 1 and gone == found
    for _ in range(40):  # over several workers; each notices its closed connection and reconnects
        assert api.get("/api/operators").status_code == 200
    after = wait_until(lambda: (lambda v: v if v > before else None)(value(scrape(prom), "crm_db_reconnects_total")),
                       10, "a reconnect is counted")
    assert before < after <= before + found, (before, after, found)
