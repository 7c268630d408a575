"""Scopes (issue 9): every route of `crm routes` x {admin, intake, agent, read, no key, revoked
key, garbage}. A key with one of the route's scopes reaches the handler (its own answer: 2xx,
or 404/422 for the inputs used here); a valid key without them is 403 naming the scopes; no key,
a revoked key or garbage is 401 with the Bearer challenge. A refused request changes nothing.
Intake keys limited to sources: their own source 201, another 403 with nothing stored."""

import os
import re
import subprocess

import pytest
from helpers import MISSING_ID, ApiClient, check_json, check_problem, new_email, require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_DSN", "CRM_BIN", "CRM_TEST_API_KEY")

SCOPES = ("admin", "intake", "agent", "read", "metrics")
GARBAGE = ("crm_0123456789abcdef_" + "0" * 64, "crm_short", "not-a-key", "")


def routes():
    out = subprocess.run([os.environ["CRM_BIN"], "routes"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    table = []
    for line in out.stdout.splitlines():
        method, pattern, scopes = line.split()
        table.append((method, pattern, set(scopes.split(","))))
    assert len(table) >= 23
    return table


ALL_ROUTES = routes()
# the routes that need a key; the public ones (issue 12's probes) are checked below
ROUTES = [r for r in ALL_ROUTES if r[2] != {"public"}]
PUBLIC = [(m, p) for m, p, s in ALL_ROUTES if s == {"public"}]


@pytest.fixture(scope="module")
def world(api, base_url):
    """Rows the routes can name, and one key per scope (plus a revoked one)."""
    src = check_json(api.post("/api/sources", json={"name": unique("scope-src")}), 201)
    op = check_json(api.post("/api/operators", json={"name": unique("scope-op"), "max_load_limit": 5}), 201)
    check_json(api.post(f"/api/sources/{src['id']}/operators",
                        json={"operators": [{"operator_id": op["id"], "weight": 1}]}), 200)
    contact = check_json(api.post("/api/contacts", json={"email": new_email(), "source_id": src["id"]}), 201)
    keys = {}
    for scope in SCOPES:
        keys[scope] = check_json(api.post("/api/keys", json={"name": unique(scope), "scopes": [scope]}), 201)
    revoked = check_json(api.post("/api/keys", json={"name": unique("revoked"), "scopes": list(SCOPES)}), 201)
    assert api.delete(f"/api/keys/{revoked['id']}").status_code == 204
    victim = check_json(api.post("/api/keys", json={"name": unique("victim"), "scopes": ["read"]}), 201)
    clients = {scope: ApiClient(base_url, keys[scope]["key"]) for scope in SCOPES}
    yield {"src": src, "op": op, "contact": contact, "victim": victim, "revoked": revoked, "clients": clients}
    for c in clients.values():
        c.close()


def path_of(pattern, world, existing):
    """The pattern with its ids: rows that exist (a refused request could change them), or
    MISSING_ID (an allowed request then gets the handler's 404)."""
    if not existing:
        return pattern.replace("{id}", str(MISSING_ID))
    if pattern.startswith("/api/operators/"):
        ident = world["op"]["id"]
    elif pattern.startswith("/api/sources/"):
        ident = world["src"]["id"]
    elif pattern.startswith("/api/contacts/"):
        ident = world["contact"]["id"]
    elif pattern.startswith("/api/keys/"):
        ident = world["victim"]["id"]
    else:
        ident = MISSING_ID
    return pattern.replace("{id}", str(ident))


def valid_body(method, pattern, world):
    """A body the handler would accept: what a refused request must not get done."""
    return {
        ("POST", "/api/operators"): {"name": unique("x"), "max_load_limit": 1},
        ("PATCH", "/api/operators/{id}"): {"max_load_limit": 7},
        ("POST", "/api/sources"): {"name": unique("x")},
        ("POST", "/api/sources/{id}/operators"): {"operators": []},
        ("POST", "/api/contacts"): {"email": new_email(), "source_id": world["src"]["id"]},
        ("PATCH", "/api/contacts/{id}"): {"status": "closed"},
        ("POST", "/api/keys"): {"name": unique("x"), "scopes": ["admin"]},
    }.get((method, pattern))


def snapshot(db_rows, world):
    return db_rows(
        "SELECT (SELECT count(*) FROM operators), (SELECT count(*) FROM sources),"
        " (SELECT count(*) FROM contacts), (SELECT count(*) FROM api_keys),"
        " (SELECT count(*) FROM source_operators WHERE source_id = %s),"
        " (SELECT max_load_limit FROM operators WHERE id = %s),"
        " (SELECT status FROM contacts WHERE id = %s),"
        " (SELECT revoked_at FROM api_keys WHERE id = %s)",
        (world["src"]["id"], world["op"]["id"], world["contact"]["id"], world["victim"]["id"]))[0]


def send(c, method, path, body):
    if method in ("POST", "PATCH"):
        return c.request(method, path, json=body)
    return c.request(method, path)


@pytest.mark.parametrize("method,pattern,allowed", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_route_x_scopes(world, db_rows, method, pattern, allowed):
    for scope in SCOPES:
        c = world["clients"][scope]
        if scope in allowed:
            # an id that names nothing and an empty body: the handler answers, nothing changes
            resp = send(c, method, path_of(pattern, world, False), {} if method in ("POST", "PATCH") else None)
            assert resp.status_code not in (401, 403), (scope, resp.status_code, resp.text[:300])
            if method in ("POST", "PATCH"):
                check_problem(resp, 422)
            elif "{id}" in pattern:
                check_problem(resp, 404)
            elif pattern == "/metrics":  # Prometheus text, not JSON
                assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain"), resp.text[:300]
            else:
                check_json(resp, 200)
        else:
            before = snapshot(db_rows, world)
            resp = send(c, method, path_of(pattern, world, True), valid_body(method, pattern, world))
            problem = check_problem(resp, 403)
            for name in allowed:
                assert name in problem["detail"], (scope, problem)
            assert snapshot(db_rows, world) == before, f"{scope} {method} {pattern} changed something"


@pytest.mark.parametrize("method,pattern,allowed", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_route_without_a_valid_key_is_401(base_url, world, db_rows, method, pattern, allowed):
    cases = [(None, False), (world["revoked"]["key"], True)] + [(g, True) for g in GARBAGE]
    for key, given in cases:
        with ApiClient(base_url, None) as c:
            headers = {} if key is None else {"Authorization": f"Bearer {key}"}
            before = snapshot(db_rows, world)
            resp = c.request(method, path_of(pattern, world, True), headers=headers,
                             json=valid_body(method, pattern, world))
            check_problem(resp, 401)
            challenge = resp.headers.get("WWW-Authenticate", "")
            assert challenge.startswith('Bearer realm="crm"'), (key, challenge)
            assert ('error="invalid_token"' in challenge) == given, (key, challenge)
            assert snapshot(db_rows, world) == before


def test_other_schemes_and_shapes_are_401(base_url, world):
    key = world["clients"]["read"].headers["Authorization"].split(" ", 1)[1]
    with ApiClient(base_url, None) as c:
        for value in (f"Basic {key}", key, f"Bearer{key}", "Bearer ", f"Bearer {key}x", f"Bearer {key.upper()}"):
            resp = c.get("/api/operators", headers={"Authorization": value})
            check_problem(resp, 401)
        # the scheme is case-insensitive (RFC 7235), extra spaces around the token are fine
        check_json(c.get("/api/operators", headers={"Authorization": f"bearer  {key} "}), 200)


def test_public_paths_need_no_key(base_url):
    with ApiClient(base_url, None) as c:
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/docs/").status_code == 200


def test_the_probes_are_public_and_answer_any_key(base_url, world):
    probes = [("GET", "/healthz"), ("GET", "/readyz")]
    assert set(probes) <= set(PUBLIC), PUBLIC
    assert not [p for _, p in PUBLIC if p.startswith("/api/")], PUBLIC
    for method, pattern in probes:
        for key in [None, world["revoked"]["key"]] + list(GARBAGE):
            with ApiClient(base_url, None) as c:
                headers = {} if key is None else {"Authorization": f"Bearer {key}"}
                check_json(c.request(method, pattern, headers=headers), 200)
        for scope in SCOPES:
            check_json(world["clients"][scope].request(method, pattern), 200)


def test_intake_key_limited_to_its_sources(api, base_url, db_count):
    mine = check_json(api.post("/api/sources", json={"name": unique("mine")}), 201)
    other = check_json(api.post("/api/sources", json={"name": unique("other")}), 201)
    key = check_json(api.post("/api/keys", json={"name": unique("form"), "scopes": ["intake"],
                                                 "source_ids": [mine["id"]]}), 201)
    assert key["source_ids"] == [mine["id"]]
    with ApiClient(base_url, key["key"]) as form:
        check_json(form.post("/api/contacts", json={"email": new_email(), "source_id": mine["id"]}), 201)
        email = new_email()
        leads, contacts = db_count("leads"), db_count("contacts")
        problem = check_problem(form.post("/api/contacts", json={"email": email, "source_id": other["id"]}), 403)
        assert re.search(r"source", problem["detail"]), problem
        idem = unique("i")
        problem = check_problem(form.post("/api/contacts", json={"email": email, "source_id": other["id"]},
                                          headers={"Idempotency-Key": idem}), 403)
        assert (db_count("leads"), db_count("contacts")) == (leads, contacts)
        assert db_count("leads", "email = %s", (email,)) == 0
        assert db_count("idempotency_keys", "client = %s", (key["public_id"],)) == 0
        assert db_count("contacts", "idem_hash = crm_idem_contact_key(%s, %s)", (key["public_id"], idem)) == 0
        # everything else is still refused
        check_problem(form.get(f"/api/sources/{mine['id']}"), 403)
    # an admin is never limited; an unlimited intake key takes any source
    check_json(api.post("/api/contacts", json={"email": new_email(), "source_id": other["id"]}), 201)
    free = check_json(api.post("/api/keys", json={"name": unique("free"), "scopes": ["intake"]}), 201)
    with ApiClient(base_url, free["key"]) as c:
        check_json(c.post("/api/contacts", json={"email": new_email(), "source_id": other["id"]}), 201)


def test_openapi_declares_the_bearer_scheme_and_each_operations_scopes(api):
    doc = check_json(api.get("/openapi.json"), 200)
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}]
    for method, pattern, allowed in ROUTES:
        path = re.sub(r"\{[^}]+\}", "{id}", pattern)
        op = doc["paths"][path][method.lower()]
        assert set(op["x-scopes"]) == allowed, (method, pattern, op["x-scopes"])
        for name in allowed:
            assert f"`{name}`" in op["description"], (method, pattern)
        for status in ("401", "403", "429"):
            assert status in op["responses"], (method, pattern, status)
