"""Protocol-level errors: 400, 404, 405, 413, 415 -- all as problem+json."""

import pytest
from helpers import require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def op_body(name):
    return '{"name":"%s","max_load_limit":1}' % name


# ---------------------------------------------------------------- 404

@pytest.mark.parametrize("path", [
    "/api/nope",
    "/api",
    "/nope",
    "/api/operators/abc",
    "/api/operators/99999999999",
    "/api/operators/99999999999999999999999",  # beyond bigint: still no such operator
    "/api/operators/-1",
    "/api/operators/1.0",
    "/api/operators/+1",
    "/api/operators/",
    "/api/operators/1/",
    "/api/operators/1/extra",
    "/api/sources/",
    "/api/sources/abc",
    "/api/sources/99999999999",
    "/api/sources/abc/operators",
    "/api/sources/99999999999/operators",
    "/api/sources/1/operators/",
    "/api/sources/1/nope",
])
def test_get_unknown_is_404_problem(api, assert_problem, path):
    assert_problem(api.get(path), 404)


def test_unknown_path_post_is_404(api, assert_problem, db_count):
    before = db_count("operators")
    assert_problem(api.post("/api/nope", json={"name": "x", "max_load_limit": 1}), 404)
    assert_problem(api.post("/api/operators/", json={"name": "x", "max_load_limit": 1}), 404)
    assert db_count("operators") == before


def test_patch_non_numeric_id_is_404(api, assert_problem):
    assert_problem(api.patch("/api/operators/abc", json={"is_active": False}), 404)


# ---------------------------------------------------------------- 405

ALLOWED = {
    "/api/operators": {"GET", "POST"},
    "/api/operators/1": {"GET", "PATCH"},
    "/api/sources": {"GET", "POST"},
    "/api/sources/1": {"GET", "PATCH"},
    "/api/sources/1/operators": {"GET", "POST"},
}

WRONG = [
    ("DELETE", "/api/operators"),
    ("PUT", "/api/operators"),
    ("PATCH", "/api/operators"),
    ("POST", "/api/operators/1"),
    ("DELETE", "/api/operators/1"),
    ("PUT", "/api/operators/99999999999"),
    ("DELETE", "/api/sources"),
    ("PATCH", "/api/sources"),
    ("POST", "/api/sources/1"),
    ("DELETE", "/api/sources/1"),
    ("DELETE", "/api/sources/1/operators"),
    ("PUT", "/api/sources/1/operators"),
]


def allow_set(resp):
    header = resp.headers.get("Allow")
    assert header is not None, f"405 without Allow: {dict(resp.headers)}"
    return {m.strip().upper() for m in header.split(",") if m.strip()}


@pytest.mark.parametrize("method,path", WRONG, ids=[f"{m} {p}" for m, p in WRONG])
def test_wrong_method_is_405_with_allow(api, assert_problem, method, path):
    pattern = path.replace("99999999999", "1")
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    resp = api.request(method, path, **kwargs)
    assert_problem(resp, 405)
    allowed = allow_set(resp)
    assert ALLOWED[pattern] <= allowed, allowed
    assert method not in allowed
    # HEAD/OPTIONS may be advertised in addition; nothing else
    assert allowed - ALLOWED[pattern] <= {"HEAD", "OPTIONS"}, allowed


def test_405_changes_nothing(api, assert_problem, db_count):
    before = db_count("operators")
    assert_problem(
        api.put("/api/operators", json={"name": unique("http"), "max_load_limit": 1}), 405)
    assert db_count("operators") == before


# ---------------------------------------------------------------- 415

@pytest.mark.parametrize("ctype", [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "text/json",
], ids=["missing", "text-plain", "form", "multipart", "jsonx", "text-json"])
def test_post_wrong_content_type_is_415(api, assert_problem, db_count, ctype):
    name = unique("http")
    before = db_count("operators")
    assert_problem(api.post_raw("/api/operators", op_body(name), content_type=ctype), 415)
    assert db_count("operators") == before
    assert db_count("operators", "name = %s", (name,)) == 0


@pytest.mark.parametrize("ctype", [None, "text/plain"], ids=["missing", "text-plain"])
def test_patch_wrong_content_type_is_415(api, assert_problem, make_operator, db_rows, ctype):
    op = make_operator()
    resp = api.patch_raw(f"/api/operators/{op['id']}", '{"is_active":false}', content_type=ctype)
    assert_problem(resp, 415)
    assert db_rows("SELECT is_active FROM operators WHERE id = %s", (op["id"],)) == [(True,)]


@pytest.mark.parametrize("ctype", [None, "text/plain"], ids=["missing", "text-plain"])
def test_source_post_wrong_content_type_is_415(api, assert_problem, db_count, ctype):
    name = unique("http")
    assert_problem(api.post_raw("/api/sources", '{"name":"%s"}' % name, content_type=ctype), 415)
    assert db_count("sources", "name = %s", (name,)) == 0


def test_config_wrong_content_type_is_415(api, assert_problem, make_source, make_operator,
                                          db_count):
    src, op = make_source(), make_operator()
    body = '{"operators":[{"operator_id":%d,"weight":1}]}' % op["id"]
    assert_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body,
                                content_type="text/plain"), 415)
    assert db_count("source_operators", "source_id = %s", (src["id"],)) == 0


@pytest.mark.parametrize("ctype", [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
], ids=["plain", "charset", "charset-nospace"])
def test_json_content_type_with_params_accepted(api, assert_json, make_operator, ctype):
    name = unique("http")
    body = assert_json(api.post_raw("/api/operators", op_body(name), content_type=ctype), 201)
    assert body["name"] == name
    op = make_operator()
    patched = assert_json(
        api.patch_raw(f"/api/operators/{op['id']}", '{"max_load_limit":2}', content_type=ctype),
        200)
    assert patched["max_load_limit"] == 2


# ---------------------------------------------------------------- 400

MALFORMED = {
    "empty": "",
    "whitespace": "   \n",
    "truncated": '{"name": ',
    "unquoted-key": '{name: "a", max_load_limit: 1}',
    "single-quotes": "{'name': 'a', 'max_load_limit': 1}",
    "trailing-comma": '{"name":"a","max_load_limit":1,}',
    "trailing-garbage": '{"name":"a","max_load_limit":1} x',
    "two-documents": '{"name":"a","max_load_limit":1}{"name":"b","max_load_limit":1}',
    "comment": '{"name":"a",/* c */"max_load_limit":1}',
    "nan": '{"name":"a","max_load_limit":NaN}',
    "infinity": '{"name":"a","max_load_limit":Infinity}',
    "leading-plus": '{"name":"a","max_load_limit":+1}',
    "leading-zero": '{"name":"a","max_load_limit":01}',
    "hex": '{"name":"a","max_load_limit":0x10}',
    "bare-word": "hello",
    "raw-control-char": '{"name":"a\tb","max_load_limit":1}',
    "bad-escape": '{"name":"a\\qb","max_load_limit":1}',
    "array-bomb": "[" * 10000,
    "object-bomb": '{"a":' * 10000,
    "closed-array-bomb": "[" * 10000 + "]" * 10000,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_is_400(api, assert_problem, db_count, case):
    before = db_count("operators")
    assert_problem(api.post_raw("/api/operators", MALFORMED[case]), 400)
    assert db_count("operators") == before


def test_deep_but_closed_bomb_in_config_is_400(api, assert_problem, make_source, db_count):
    src = make_source()
    body = '{"operators":' + "[" * 10000 + "]" * 10000 + "}"
    assert_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body), 400)
    assert db_count("source_operators", "source_id = %s", (src["id"],)) == 0


def test_malformed_patch_is_400(api, assert_problem, make_operator, db_rows):
    op = make_operator(max_load_limit=3)
    assert_problem(api.patch_raw(f"/api/operators/{op['id']}", '{"max_load_limit":'), 400)
    assert_problem(api.patch_raw(f"/api/operators/{op['id']}", ""), 400)
    assert db_rows("SELECT max_load_limit FROM operators WHERE id = %s", (op["id"],)) == [(3,)]


def test_invalid_utf8_is_rejected_not_500(api, db_count):
    before = db_count("operators")
    resp = api.post_raw("/api/operators", b'{"name":"a\xff\xfeb","max_load_limit":1}')
    assert resp.status_code in (400, 422), resp.text[:300]
    assert db_count("operators") == before


# ---------------------------------------------------------------- 413

TWO_MB = 2 * 1024 * 1024


def test_2mb_body_is_413_problem(api, assert_problem, db_count):
    name = unique("http")
    body = '{"name":"%s","max_load_limit":1,"pad":"%s"}' % (name, "x" * TWO_MB)
    before = db_count("operators")
    assert_problem(api.post_raw("/api/operators", body), 413)
    assert db_count("operators") == before
    assert db_count("operators", "name = %s", (name,)) == 0


def test_2mb_chunked_body_is_413_problem(api, assert_problem, db_count):
    name = unique("http")
    head = ('{"name":"%s","max_load_limit":1,"pad":"' % name).encode()

    def chunks():  # a generator makes requests use Transfer-Encoding: chunked
        yield head
        for _ in range(32):
            yield b"y" * (64 * 1024)
        yield b'"}'

    before = db_count("operators")
    resp = api.post("/api/operators", data=chunks(),
                    headers={"Content-Type": "application/json"})
    assert_problem(resp, 413)
    assert db_count("operators") == before
    assert db_count("operators", "name = %s", (name,)) == 0


def test_2mb_patch_is_413(api, assert_problem, make_operator, db_rows):
    op = make_operator(max_load_limit=3)
    body = '{"max_load_limit":4,"pad":"%s"}' % ("z" * TWO_MB)
    assert_problem(api.patch_raw(f"/api/operators/{op['id']}", body), 413)
    assert db_rows("SELECT max_load_limit FROM operators WHERE id = %s", (op["id"],)) == [(3,)]


def test_body_below_limit_is_processed(api, assert_json):
    """A 512 KiB body (below the 1 MiB default) is read completely and parsed."""
    name = unique("http")
    body = '{"pad":"%s","name":"%s","max_load_limit":1}' % ("p" * (512 * 1024), name)
    assert assert_json(api.post_raw("/api/operators", body), 201)["name"] == name


def test_service_still_answers_after_errors(api, assert_json):
    # a cheap check that none of the above killed the worker pool for good
    for _ in range(5):
        assert isinstance(assert_json(api.get("/api/sources"), 200), list)
