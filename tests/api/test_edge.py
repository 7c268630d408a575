"""The edge: every status nginx itself produces is problem+json, limits are keyed by the credential,
the security headers are there, and the production site (deploy/nginx/crm.conf) is valid and does
what README "The edge (nginx)" says.

Requests nginx must refuse are sent raw over a socket (no HTTP library would send them); requests
that should reach the service go through helpers.py's ApiClient. The rate limits and the client
timeouts of the test stack are high (so load tests are not throttled): those tests start an nginx
of their own from the same template (deploy/nginx/local.conf.in, rendered by stack.sh's
nginx_render) with low values, on a free port, in front of the running stack's workers. The
production site runs on free ports with a self-signed certificate made for the test.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
from helpers import PROBLEM_TYPE, ApiClient, require_env, wait_until

require_env("CRM_TEST_URL", "CRM_TEST_PIDFILE")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SITE = "crm.example.com"


# --- raw HTTP ---------------------------------------------------------------------------------

def read_all(sock, timeout):
    """Everything the peer sends until it closes (or `timeout` passes without a byte)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def parse(raw):
    """(status, {lower-case header: value}, body) of a raw HTTP/1.x answer."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete answer: {raw[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^HTTP/1\.[01] (\d{3})( .*)?$", lines[0])
    assert m, f"not a status line: {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while True:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return int(m.group(1)), headers, body


def read_answer(sock, timeout):
    """One answer: its header and, by Content-Length, its body; else all until the peer closes (an
    answer to HEAD: send Connection: close)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if m and len(body) >= int(m.group(1)):
                    return data
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except (socket.timeout, ConnectionResetError):
        return data


def exchange(port, data, timeout=10, host="127.0.0.1", wrap=None):
    """Send `data` on a new connection, return the answer (b"" if nginx closed without one).
    Like a real client it keeps its side open: a half-closed connection makes nginx drop a
    413 it is still discarding the announced body of."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if wrap is not None:
            sock = wrap(sock)
        sock.sendall(data)
        return read_answer(sock, timeout)


def check_nginx_problem(raw, status):
    """An answer of nginx itself: `status`, problem+json with type/title/status/detail, nosniff."""
    got, headers, body = parse(raw)
    assert got == status, f"expected {status}, got {got}: {raw[:400]!r}"
    assert headers.get("content-type", "").split(";")[0].strip() == PROBLEM_TYPE, headers
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert "server" not in headers or headers["server"] == "nginx", headers  # server_tokens off
    problem = json.loads(body)
    assert set(problem) >= {"type", "title", "status", "detail"}, problem
    assert problem["status"] == status and problem["title"] and problem["detail"], problem
    return headers, problem


@pytest.fixture(scope="module")
def stack_port():
    url = urlparse(os.environ["CRM_TEST_URL"])
    assert url.hostname in ("127.0.0.1", "localhost"), url
    return url.port or 80


def crm_socket():
    return os.path.join(os.path.dirname(os.environ["CRM_TEST_PIDFILE"]), "crm.sock")


# --- the test stack's nginx: its own statuses -----------------------------------------------

H = b"Host: localhost\r\n"
JSON_CT = b"Content-Type: application/json\r\n"

REFUSED = {
    "garbage request line": (b"GARBAGE\r\n\r\n", 400),
    "lower-case method": (b"get /api/operators HTTP/1.1\r\n" + H + b"\r\n", 400),
    "space in the target": (b"GET /api/oper ators x HTTP/1.1\r\n" + H + b"\r\n", 400),
    "bad Content-Length": (b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 12a\r\n\r\n", 400),
    "negative Content-Length": (b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: -1\r\n\r\n", 400),
    "Content-Length and Transfer-Encoding": (
        b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "bad chunk size": (
        b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Transfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n", 400),
    "chunk longer than its size": (
        b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Transfer-Encoding: chunked\r\n\r\n"
        b"1\r\n{}\r\n0\r\n\r\n", 400),
    "bad percent-encoding": (b"GET /api/%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    "truncated percent-encoding": (b"GET /api/operators%2 HTTP/1.1\r\n" + H + b"\r\n", 400),
    "encoded NUL in the path": (b"GET /api/a%00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "path above the root": (b"GET /../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 400),
    "HTTP/1.1 without Host": (b"GET /api/operators HTTP/1.1\r\n\r\n", 400),
    "header line without a colon": (b"GET /api/operators HTTP/1.1\r\n" + H + b"Bad Header\r\n\r\n", 400),
    "HTTP/2 preface without TLS": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "10 KB URI": (b"GET /api/" + b"a" * 10240 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    "20 KB header": (b"GET /api/operators HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20480 + b"\r\n\r\n", 431),
    "body over the limit": (
        b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 5000000\r\n\r\n", 413),
    "HTTP/2.0 request line": (b"GET /api/operators HTTP/2.0\r\n" + H + b"\r\n", 505),
    "HTTP/3.0 request line": (b"GET /api/operators HTTP/3.0\r\n" + H + b"\r\n", 505),
    "unknown Transfer-Encoding": (
        b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    "TRACE": (b"TRACE /api/operators HTTP/1.1\r\n" + H + b"\r\n", 405),
    "unknown method on a static file": (b"FOO /openapi.json HTTP/1.1\r\n" + H + b"\r\n", 405),
    "POST to the docs": (b"POST /docs/ HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 2\r\n\r\n{}", 405),
    "unknown docs file": (b"GET /docs/nope.html HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", 404),
    "the problem pages themselves": (b"GET /.problem/400 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", 404),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_nginx_refusal_is_problem_json(stack_port, case):
    data, status = REFUSED[case]
    check_nginx_problem(exchange(stack_port, data), status)


def test_head_refusal_has_no_body(stack_port):
    raw = exchange(stack_port, b"HEAD /docs/nope.html HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    status, headers, body = parse(raw)
    assert status == 404 and headers["content-type"] == PROBLEM_TYPE and body == b"", raw


def test_header_too_large_says_431_on_the_status_line(stack_port):
    raw = exchange(stack_port, REFUSED["20 KB header"][0])
    assert raw.startswith(b"HTTP/1.1 431"), raw[:100]


# --- headers -------------------------------------------------------------------------------

class Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline = 0
        self.external = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.external.append(attrs["src"])
            else:
                self._in_script = True
        for name in attrs:  # onload=..., onclick=...: inline handlers a CSP without 'unsafe-inline' blocks
            assert not name.startswith("on"), f"inline event handler {name} on <{tag}>"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline += 1


def csp(resp):
    policy = {}
    for part in resp.headers.get("Content-Security-Policy", "").split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


def test_docs_have_a_csp_that_swagger_ui_fits(api):
    resp = api.get("/docs/")
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    policy = csp(resp)
    assert policy.get("default-src") == ["'none'"], policy
    assert policy.get("script-src") == ["'self'"], policy  # no inline script, no eval
    assert policy.get("connect-src") == ["'self'"], policy  # /openapi.json and "Try it out"
    assert "'self'" in policy.get("style-src", []) and "data:" in policy.get("img-src", []), policy
    assert policy.get("frame-ancestors") == ["'none'"], policy
    # the page runs only scripts the policy allows: files of this site, nothing inline
    page = Scripts()
    page.feed(resp.text)
    assert page.inline == 0, "an inline <script> would be blocked by script-src 'self'"
    assert page.external, "no scripts found in /docs/"
    for src in page.external:
        assert src.startswith("/") and not src.startswith("//"), src
        asset = api.get(src)
        assert asset.status_code == 200, src
        assert asset.headers.get("X-Content-Type-Options") == "nosniff", src
        assert "javascript" in asset.headers.get("Content-Type", ""), (src, asset.headers)


def test_openapi_and_api_answers_carry_nosniff_and_a_closed_csp(api):
    for resp in (api.get("/openapi.json"), api.get("/api/operators"), api.get("/api/no-such-route")):
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", (resp.url, resp.headers)
        assert csp(resp).get("default-src") == ["'none'"], (resp.url, resp.headers)
        assert "Strict-Transport-Security" not in resp.headers  # plain http: no HSTS
        assert resp.headers.get("Server") == "nginx"  # no version


def test_a_static_file_keeps_its_cache_header_and_the_security_headers(api):
    resp = api.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers.get("Cache-Control") == "no-cache", resp.headers
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.headers


# --- an nginx of our own from the stack's template ------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """One nginx master started from a config in its own temp prefix; stop() ends it (by its pid)."""

    def __init__(self, prefix, conf):
        self.prefix, self.conf = prefix, conf

    def cmd(self, *args):
        return ["nginx", "-p", self.prefix + "/", "-c", self.conf, "-e", self.prefix + "/error.log", *args]

    def start(self):
        test = subprocess.run(self.cmd("-t", "-q"), capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        run = subprocess.run(self.cmd(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        self.pid = int(wait_until(lambda: self._pid(), 10, "nginx writes its pid"))

    def _pid(self):
        try:
            with open(self.prefix + "/nginx.pid") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def stop(self):
        pid = getattr(self, "pid", None)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def gone():
            try:
                os.kill(pid, 0)
                return False
            except ProcessLookupError:
                return True

        wait_until(gone, 10, "nginx exits")


@pytest.fixture()
def edge_nginx():
    """start(sock=None, **limits) -> port of an nginx rendered from local.conf.in with these
    CRM_NGINX_* settings (e.g. KEY_RATE="1r/m"), in front of the test stack's workers (or of the
    unix socket `sock`)."""
    started, dirs = [], []

    def start(sock=None, **settings):
        prefix = tempfile.mkdtemp(prefix="crm-edge-")
        dirs.append(prefix)
        os.chmod(prefix, 0o755)  # the workers (www-data) write their temp dirs here
        port = free_port()
        env = dict(os.environ)
        env.update({f"CRM_NGINX_{k}": str(v) for k, v in settings.items()})
        script = ('. "$1/deploy/local/stack.sh"; stack_init; NGINX_DIR="$2"; NGINX_CONF="$2/nginx.conf"; '
                  'CRM_HTTP_PORT="$3"; CRM_SOCK="$4"; nginx_render')
        out = subprocess.run(["bash", "-c", script, "_", ROOT, prefix, str(port), sock or crm_socket()],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        server = Nginx(prefix, prefix + "/nginx.conf")
        started.append(server)
        server.start()
        return port

    start.prefixes = dirs
    yield start
    for server in started:
        server.stop()
    for prefix in dirs:
        shutil.rmtree(prefix, ignore_errors=True)


def bearer(public_id):
    return {"Authorization": f"Bearer crm_{public_id}_{uuid.uuid4().hex}{uuid.uuid4().hex}"}


def fake_id():
    return "t" + uuid.uuid4().hex[:12]


def served(resp):
    """An answer of the service (whatever it thinks of the made-up key), not nginx's refusal."""
    return resp.status_code != 429 and resp.headers.get("Content-Type", "").startswith("application/")


def check_429(resp):
    assert resp.status_code == 429, resp.text[:300]
    assert resp.headers.get("Content-Type") == PROBLEM_TYPE, resp.headers
    assert int(resp.headers["Retry-After"]) >= 1, resp.headers
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    body = resp.json()
    assert body["status"] == 429 and body["title"] and body["detail"] and body["type"], body


LOW = {"KEY_RATE": "1r/m", "KEY_BURST": 3, "ADDR_RATE": "1r/m", "ADDR_BURST": 40}


def test_rate_limit_is_per_credential(edge_nginx):
    port = edge_nginx(**LOW)
    client = ApiClient(f"http://127.0.0.1:{port}")
    try:
        first, second = fake_id(), fake_id()
        answers = [client.get("/api/operators", headers=bearer(first)) for _ in range(8)]
        assert served(answers[0]), answers[0].text[:300]
        refused = [r for r in answers if r.status_code == 429]
        # 1 + burst pass (the rate refills one per minute), the rest are refused
        assert len(refused) == 8 - (1 + LOW["KEY_BURST"]), [r.status_code for r in answers]
        for resp in refused:
            check_429(resp)
        # another key from the same address has a budget of its own
        for _ in range(1 + LOW["KEY_BURST"]):
            resp = client.get("/api/operators", headers=bearer(second))
            assert served(resp), resp.text[:300]
        check_429(client.get("/api/operators", headers=bearer(second)))
        # the same public id with another secret is the same budget
        check_429(client.get("/api/operators", headers=bearer(first)))
    finally:
        client.close()


def test_rate_limit_without_a_key_is_per_address(edge_nginx):
    port = edge_nginx(**LOW)
    client = ApiClient(f"http://127.0.0.1:{port}")
    try:
        no_key = {"Authorization": "Basic eDp5"}  # not a crm key: counts as the address
        answers = [client.get("/api/operators", headers=no_key) for _ in range(6)]
        codes = [r.status_code for r in answers]
        assert codes.count(429) == 6 - (1 + LOW["KEY_BURST"]), codes
        check_429(answers[-1])
        # a key is counted apart from the address's keyless requests
        assert served(client.get("/api/operators", headers=bearer(fake_id())))
    finally:
        client.close()


def test_inventing_key_ids_does_not_escape_the_address_limit(edge_nginx):
    port = edge_nginx(KEY_RATE="1r/m", KEY_BURST=3, ADDR_RATE="1r/m", ADDR_BURST=5)
    client = ApiClient(f"http://127.0.0.1:{port}")
    try:
        answers = [client.get("/api/operators", headers=bearer(fake_id())) for _ in range(10)]
        codes = [r.status_code for r in answers]
        assert codes.count(429) == 10 - (1 + 5), codes
        check_429(answers[-1])
    finally:
        client.close()


def test_static_files_and_problem_pages_are_limited_too(edge_nginx):
    # a 429 is problem+json wherever it happens, also outside /api/
    port = edge_nginx(**LOW)
    codes = []
    for _ in range(6):
        raw = exchange(port, b"GET /openapi.json HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        codes.append(parse(raw)[0])
    assert codes.count(429) == 6 - (1 + LOW["KEY_BURST"]), codes
    headers, _ = check_nginx_problem(raw, 429)
    assert int(headers["retry-after"]) >= 1


def test_concurrent_requests_are_limited_per_address(edge_nginx):
    port = edge_nginx(CONN=1)
    # a request whose body is still coming holds its slot (limit_conn counts before the body is read)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 100\r\n\r\n{")
        time.sleep(0.2)
        raw = exchange(port, b"GET /openapi.json HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        headers, _ = check_nginx_problem(raw, 429)
        assert int(headers["retry-after"]) >= 1
    # the slot is free again once that request is gone
    def free():
        raw = exchange(port, b"GET /openapi.json HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        return parse(raw)[0] == 200

    wait_until(free, 5, "the held request's slot is released")


def test_stalled_header_or_body_is_dropped_without_reaching_a_worker(edge_nginx):
    """nginx never answers 408: it finalizes a client timeout by closing the connection
    (README "The edge (nginx)"). What matters is that a stalled client is cut off in
    CRM_NGINX_CLIENT_TIMEOUT and its request never reaches the workers."""
    port = edge_nginx(CLIENT_TIMEOUT="1s")
    cases = {
        "header": b"GET /api/operators HTTP/1.1\r\n" + H,
        "body": b"POST /api/operators HTTP/1.1\r\n" + H + JSON_CT + b"Content-Length: 100\r\n\r\n{\"name\":",
    }
    for what, data in cases.items():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(data)
            t0 = time.monotonic()
            got = read_all(sock, 10)
            took = time.monotonic() - t0
        assert took < 5, f"stalled {what}: still open after {took:.1f} s"
        assert got == b"" or parse(got)[0] == 408, f"stalled {what}: {got[:300]!r}"
    # both are logged as 408 and neither was handed to a worker (no upstream connect time)
    log = os.path.join(edge_nginx.prefixes[-1], "access.log")

    def stalled_lines():
        with open(log) as f:
            return [line for line in f if '" 408 ' in line]

    lines = wait_until(lambda: len(stalled_lines()) >= 2 and stalled_lines(), 5, "the access log shows both")
    assert all(line.rstrip().endswith(" -") for line in lines), lines


def test_a_worker_lost_mid_request_is_a_502_problem(edge_nginx):
    """A "worker" that takes the request and hangs up without an answer: nginx's 502, as a problem
    with Retry-After; and no socket at all: a 503 (the connect failed, nothing was handed on)."""
    tmp = tempfile.mkdtemp(prefix="crm-dead-")
    os.chmod(tmp, 0o755)
    path = f"{tmp}/dead.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(8)

    def hang_up():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        port = edge_nginx(sock=path)
        request = b"GET /api/operators HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"
        headers, _ = check_nginx_problem(exchange(port, request), 502)
        assert int(headers["retry-after"]) >= 1
        port = edge_nginx(sock=f"{tmp}/none.sock")
        headers, _ = check_nginx_problem(exchange(port, request), 503)
        assert int(headers["retry-after"]) >= 1
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux), then the thread ends
        server.close()
        thread.join(5)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_a_slow_reader_of_a_big_list_never_spills_to_disk(edge_nginx, db_rows, make_source):
    """fastcgi_max_temp_file_size 0: nginx keeps at most its buffers of a list in memory and waits
    for the client, instead of spooling the rest of the answer into a temp file."""
    port = edge_nginx()
    prefix = edge_nginx.prefixes[-1]
    src = make_source()
    lead = db_rows("INSERT INTO leads (email) VALUES (%s) RETURNING id", (f"edge-{uuid.uuid4().hex}@example.com",))[0][0]
    n = 50_000  # about 6 MB of JSON: more than nginx's 256 KB and the socket buffers of a reader that waits
    db_rows("INSERT INTO contacts (lead_id, source_id, status) SELECT %s, %s, 'closed' FROM generate_series(1, %s)",
            (lead, src["id"], n))
    client = ApiClient(f"http://127.0.0.1:{port}")
    try:
        with client.get(f"/api/leads/{lead}", stream=True, timeout=60) as resp:
            assert resp.status_code == 200, resp.text[:300]
            chunks = resp.iter_content(65536)
            body = next(chunks)
            time.sleep(2)  # a slow reader: the worker keeps writing meanwhile
            body += b"".join(chunks)
        assert len(json.loads(body)["contacts"]) == n
        # nginx unlinks its temp files at once, so its warning is where spooling shows
        with open(f"{prefix}/error.log") as f:
            log = f.read()
        assert "buffered to a temporary file" not in log, log[-2000:]
    finally:
        client.close()
        db_rows("DELETE FROM contacts WHERE lead_id = %s", (lead,))
        db_rows("DELETE FROM leads WHERE id = %s", (lead,))


# --- the production site ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def production():
    """deploy/nginx/crm.conf with its snippets, a self-signed certificate for crm.example.com and
    the static files in a temp prefix, ports 80/443 moved to free ones and the socket to the test
    stack's: (prefix, nginx.conf path, http port, https port, CA file). Not started."""
    prefix = tempfile.mkdtemp(prefix="crm-production-")
    os.chmod(prefix, 0o755)  # the workers (www-data) read the static files here
    key, cert = f"{prefix}/privkey.pem", f"{prefix}/fullchain.pem"
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-days", "2", "-subj", f"/CN={SITE}", "-addext", f"subjectAltName=DNS:{SITE}",
                          "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    share = f"{prefix}/share"
    shutil.copytree(f"{ROOT}/deploy/docs", f"{share}/docs")
    shutil.copy(f"{ROOT}/deploy/openapi.json", f"{share}/openapi.json")
    subprocess.run(["chmod", "-R", "a+rX", share], check=True)
    http_port, https_port = free_port(), free_port()
    with open(f"{ROOT}/deploy/nginx/crm.conf") as f:
        site = f.read()
    for old, new in [("/etc/nginx/snippets/crm-edge.conf", f"{ROOT}/deploy/nginx/edge.conf"),
                     ("/etc/nginx/snippets/crm-problem.conf", f"{ROOT}/deploy/nginx/problem.conf"),
                     ("/etc/ssl/crm/", prefix + "/"), ("/var/log/nginx/", prefix + "/"),
                     ("/usr/share/crm/", share + "/"), ("unix:/run/crm/crm.sock", "unix:" + crm_socket())]:
        assert old in site, f"crm.conf no longer mentions {old}"
        site = site.replace(old, new)
    site = re.sub(r"^\s*listen \[::\]:.*\n", "", site, flags=re.M)  # the test host may lack IPv6
    site = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", site)
    site = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", site)
    site = site.replace("https://crm.example.com$request_uri", f"https://crm.example.com:{https_port}$request_uri")
    with open(f"{prefix}/crm.conf", "w") as f:
        f.write(site)
    with open(f"{prefix}/nginx.conf", "w") as f:  # Debian's nginx.conf, reduced to what the site needs
        f.write(f"user www-data;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
                f"events {{ worker_connections 64; }}\n"
                f"http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
                f"    access_log {prefix}/access.log;\n    include {prefix}/crm.conf;\n}}\n")
    yield prefix, f"{prefix}/nginx.conf", http_port, https_port, cert
    shutil.rmtree(prefix, ignore_errors=True)


def test_production_config_passes_nginx_t(production):
    prefix, conf = production[:2]
    out = subprocess.run(["nginx", "-t", "-p", prefix + "/", "-c", conf, "-e", prefix + "/error.log"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr


@pytest.fixture(scope="module")
def production_nginx(production):
    prefix, conf = production[:2]
    server = Nginx(prefix, conf)
    server.start()
    yield production
    server.stop()


def tls(production, server_name=SITE):
    ctx = ssl.create_default_context(cafile=production[4])
    ctx.check_hostname = server_name is not None
    if server_name is None:
        ctx.verify_mode = ssl.CERT_NONE
    return lambda sock: ctx.wrap_socket(sock, server_hostname=server_name)


def https(production, request, server_name=SITE):
    return exchange(production[3], request, wrap=tls(production, server_name))


def test_production_serves_tls_with_hsts_nosniff_and_csp(production_nginx):
    status, headers, body = parse(https(production_nginx, b"GET /openapi.json HTTP/1.1\r\nHost: crm.example.com\r\n"
                                                          b"Connection: close\r\n\r\n"))
    assert status == 200 and json.loads(body)["openapi"], headers
    assert headers["strict-transport-security"].startswith("max-age="), headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "nginx", headers
    status, headers, body = parse(https(production_nginx, b"GET /docs/ HTTP/1.1\r\nHost: crm.example.com\r\n"
                                                          b"Connection: close\r\n\r\n"))
    assert status == 200 and b"swagger-ui" in body
    assert "script-src 'self'" in headers["content-security-policy"], headers
    assert headers["strict-transport-security"].startswith("max-age="), headers


def test_production_problem_pages_over_tls(production_nginx):
    headers, _ = check_nginx_problem(https(production_nginx, b"GARBAGE\r\n\r\n"), 400)
    assert "strict-transport-security" in headers
    big_header = REFUSED["20 KB header"][0].replace(H, b"Host: crm.example.com\r\n")
    check_nginx_problem(https(production_nginx, big_header), 431)
    check_nginx_problem(https(production_nginx, b"GET /docs/nope HTTP/1.1\r\nHost: crm.example.com\r\n"
                                                b"Connection: close\r\n\r\n"), 404)


def test_production_plain_http_is_redirected(production_nginx):
    raw = exchange(production_nginx[2], b"POST /api/contacts?x=1 HTTP/1.1\r\nHost: crm.example.com\r\n"
                                        b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    status, headers, _ = parse(raw)
    assert status == 308, raw[:300]
    assert headers["location"] == f"https://crm.example.com:{production_nginx[3]}/api/contacts?x=1", headers
    # plain HTTP to the TLS port: a problem, not nginx's HTML
    check_nginx_problem(exchange(production_nginx[3], b"GET / HTTP/1.1\r\nHost: crm.example.com\r\n\r\n"), 400)


@pytest.mark.parametrize("host", [b"other.example.com", b"127.0.0.1"])
def test_production_drops_unknown_host_names(production_nginx, host):
    request = b"GET /openapi.json HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    assert exchange(production_nginx[2], request) == b""  # 444 on port 80: closed, no answer
    # TLS with the right SNI but another Host: the default server, closed without an answer
    assert https(production_nginx, request) == b""


@pytest.mark.parametrize("server_name", ["other.example.com", None], ids=["unknown-sni", "no-sni"])
def test_production_refuses_the_handshake_for_other_names(production_nginx, server_name):
    with pytest.raises(ssl.SSLError):
        https(production_nginx, b"GET / HTTP/1.1\r\nHost: crm.example.com\r\n\r\n", server_name=server_name)
