"""Operators: POST/GET/PATCH /api/operators[/{id}] and their validation rules."""

import pytest
from helpers import MISSING_ID, assert_create_rejected, require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def db_operator(db_rows, op_id):
    rows = db_rows(
        "SELECT id, name, is_active, max_load_limit, active_contacts, schedule, on_shift"
        " FROM operators WHERE id = %s",
        (op_id,),
    )
    if not rows:
        return None
    keys = ("id", "name", "is_active", "max_load_limit", "active_contacts", "schedule", "on_shift")
    return dict(zip(keys, rows[0]))


# ---------------------------------------------------------------- create


def test_create_returns_201_location_and_operator(api, assert_json, db_rows):
    name = unique("op")
    resp = api.post("/api/operators", json={"name": name, "max_load_limit": 5})
    body = assert_json(resp, 201)
    assert type(body["id"]) is int and body["id"] > 0
    assert body == {
        "id": body["id"],
        "name": name,
        "is_active": True,
        "max_load_limit": 5,
        "active_contacts": 0,
        "schedule": None,
        "on_shift": True,
    }
    assert resp.headers.get("Location") == f"/api/operators/{body['id']}"
    assert db_operator(db_rows, body["id"]) == body


def test_create_inactive(api, assert_json, db_rows):
    name = unique("op")
    resp = api.post(
        "/api/operators", json={"name": name, "is_active": False, "max_load_limit": 0}
    )
    body = assert_json(resp, 201)
    assert body["is_active"] is False
    assert body["max_load_limit"] == 0
    assert body["active_contacts"] == 0
    assert db_operator(db_rows, body["id"])["is_active"] is False


def test_create_ignores_unknown_fields(api, assert_json, db_rows):
    name = unique("op")
    resp = api.post(
        "/api/operators",
        json={
            "name": name,
            "max_load_limit": 3,
            "active_contacts": 7,
            "colour": "blue",
            "nested": {"a": [1, 2, {"b": None}]},
        },
    )
    body = assert_json(resp, 201)
    assert body["active_contacts"] == 0
    assert set(body) == {"id", "name", "is_active", "max_load_limit", "active_contacts", "schedule", "on_shift"}
    assert db_operator(db_rows, body["id"])["active_contacts"] == 0


def test_names_need_not_be_unique(api, make_operator):
    name = unique("op")
    a = make_operator(name=name)
    b = make_operator(name=name)
    assert a["id"] != b["id"] and a["name"] == b["name"] == name


def test_create_trims_name(api, assert_json, db_rows):
    core = unique("op")
    resp = api.post(
        "/api/operators", json={"name": f"  \t{core} \n ", "max_load_limit": 1}
    )
    body = assert_json(resp, 201)
    assert body["name"] == core
    assert db_operator(db_rows, body["id"])["name"] == core


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "a" * 200,
        "  " + "b" * 200 + "  ",  # 200 after trimming
        "\u0436" * 200,  # 200 characters, 400 bytes of UTF-8
    ],
    ids=["1-char", "200-chars", "200-after-trim", "200-multibyte-chars"],
)
def test_create_name_length_accepted(api, assert_json, db_rows, name):
    resp = api.post("/api/operators", json={"name": name, "max_load_limit": 1})
    body = assert_json(resp, 201)
    assert body["name"] == name.strip()
    assert db_operator(db_rows, body["id"])["name"] == name.strip()


@pytest.mark.parametrize("limit", [0, 1, 1000000])
def test_create_max_load_limit_bounds_accepted(api, assert_json, limit):
    body = assert_json(
        api.post("/api/operators", json={"name": unique("op"), "max_load_limit": limit}), 201
    )
    assert body["max_load_limit"] == limit


# ---------------------------------------------------------------- create: errors

# (raw JSON value for the field, field name). Raw tokens let us send 5.0 and 1e2
# exactly as written (Python's json module would re-spell them).
NAME_BAD = ["5", "true", "null", "[]", "{}", '""', '"   "', '"' + "a" * 201 + '"',
            '"' + "\u0436" * 201 + '"']
LIMIT_BAD = ['"5"', "5.5", "5.0", "1e2", "true", "null", "[]", "{}", "-1", "1000001",
             str(2**63), str(10**30), str(-(2**63) - 1), '"x"']
ACTIVE_BAD = ['"true"', "1", "0", "null", '"false"', "[]", "{}"]

CREATE_BAD = (
    [("name", raw) for raw in NAME_BAD]
    + [("max_load_limit", raw) for raw in LIMIT_BAD]
    + [("is_active", raw) for raw in ACTIVE_BAD]
)


def _create_body(field, raw, marker):
    fields = {
        "name": '"' + marker + '"',
        "max_load_limit": "4",
        "is_active": "true",
    }
    fields[field] = raw
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


@pytest.mark.parametrize("field,raw", CREATE_BAD, ids=[f"{f}={r[:20]}" for f, r in CREATE_BAD])
def test_create_rejects_bad_value_and_stores_nothing(
    api, assert_problem, db_count, field, raw
):
    marker = unique("bad")
    before = db_count("operators")
    resp = api.post_raw("/api/operators", _create_body(field, raw, marker))
    assert_problem(resp, 422, fields={field})
    assert db_count("operators") == before
    assert db_count("operators", "name = %s", (marker,)) == 0


@pytest.mark.parametrize(
    "body,fields",
    [
        ({"max_load_limit": 1}, {"name"}),
        ({"name": "MARK"}, {"max_load_limit"}),
        ({}, {"name", "max_load_limit"}),
        ({"name": 5, "max_load_limit": "x"}, {"name", "max_load_limit"}),
        ({"name": "", "max_load_limit": -1, "is_active": "yes"},
         {"name", "max_load_limit", "is_active"}),
    ],
    ids=["no-name", "no-limit", "empty-object", "two-bad", "three-bad"],
)
def test_create_errors_name_every_bad_field(api, db_count, body, fields):
    assert_create_rejected(api, db_count, "operators", body, fields)


@pytest.mark.parametrize("raw", ["[]", '"x"', "5", "null", "true", '[{"name":"a","max_load_limit":1}]'])
def test_create_top_level_not_object_is_422(api, assert_problem, db_count, raw):
    before = db_count("operators")
    assert_problem(api.post_raw("/api/operators", raw), 422)
    assert db_count("operators") == before


def test_create_rejects_nul_in_name(api, db_count):
    # PostgreSQL text cannot hold NUL: storing it is impossible without loss.
    before = db_count("operators")
    resp = api.post_raw("/api/operators", '{"name":"a\\u0000b","max_load_limit":1}')
    assert resp.status_code in (400, 422), resp.text[:300]
    assert db_count("operators") == before


# ---------------------------------------------------------------- read


def test_get_by_id(api, assert_json, make_operator):
    op = make_operator(max_load_limit=7, is_active=False)
    assert assert_json(api.get(f"/api/operators/{op['id']}"), 200) == op


def test_get_unknown_is_404(api, assert_problem):
    assert_problem(api.get(f"/api/operators/{MISSING_ID}"), 404)


def test_list_sorted_by_id_with_active_contacts(api, assert_json, make_operator):
    mine = [make_operator(max_load_limit=i) for i in (3, 1, 2)]
    listed = assert_json(api.get("/api/operators"), 200)
    assert isinstance(listed, list)
    ids = [o["id"] for o in listed]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "not strictly ordered by id"
    for o in listed:
        assert set(o) == {"id", "name", "is_active", "max_load_limit", "active_contacts", "schedule", "on_shift"}, o
        assert type(o["active_contacts"]) is int and o["active_contacts"] >= 0
    by_id = {o["id"]: o for o in listed}
    for op in mine:
        assert by_id.get(op["id"]) == op
        assert by_id[op["id"]]["active_contacts"] == 0


def test_list_matches_database(api, assert_json, make_operator, db_rows):
    make_operator()
    listed = assert_json(api.get("/api/operators"), 200)
    rows = db_rows(
        "SELECT id, name, is_active, max_load_limit, active_contacts FROM operators ORDER BY id"
    )
    # rows created after the GET cannot exist: tests run one at a time
    assert [tuple(o[k] for k in ("id", "name", "is_active", "max_load_limit", "active_contacts"))
            for o in listed] == [tuple(r) for r in rows]


# ---------------------------------------------------------------- patch


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"max_load_limit": 0},
        {"max_load_limit": 1000000},
        {"name": "NEW"},
        {"name": "NEW", "is_active": False, "max_load_limit": 42},
    ],
    ids=["is_active", "limit-0", "limit-max", "name", "all"],
)
def test_patch_updates_only_given_fields(api, assert_json, make_operator, db_rows, change):
    op = make_operator(max_load_limit=9)
    new_name = unique("renamed")
    change = {k: (new_name if v == "NEW" else v) for k, v in change.items()}
    body = assert_json(api.patch(f"/api/operators/{op['id']}", json=change), 200)
    expected = dict(op, **change)
    assert body == expected
    assert assert_json(api.get(f"/api/operators/{op['id']}"), 200) == expected
    assert db_operator(db_rows, op["id"]) == expected


def test_patch_reactivate(api, assert_json, make_operator):
    op = make_operator(is_active=False)
    body = assert_json(api.patch(f"/api/operators/{op['id']}", json={"is_active": True}), 200)
    assert body["is_active"] is True


def test_patch_trims_name_and_ignores_unknown(api, assert_json, make_operator):
    op = make_operator()
    core = unique("trim")
    body = assert_json(
        api.patch(f"/api/operators/{op['id']}",
                  json={"name": f"   {core}  ", "id": op["id"] + 1000, "active_contacts": 5}),
        200,
    )
    assert body == dict(op, name=core)


def test_patch_unknown_is_404(api, assert_problem, db_count):
    assert_problem(api.patch(f"/api/operators/{MISSING_ID}", json={"is_active": False}), 404)
    assert db_count("operators", "id = %s", (MISSING_ID,)) == 0


PATCH_BAD = (
    [("name", raw) for raw in NAME_BAD]
    + [("max_load_limit", raw) for raw in LIMIT_BAD]
    + [("is_active", raw) for raw in ACTIVE_BAD]
)


@pytest.mark.parametrize("field,raw", PATCH_BAD, ids=[f"{f}={r[:20]}" for f, r in PATCH_BAD])
def test_patch_rejects_bad_value_and_changes_nothing(
    api, assert_problem, make_operator, db_rows, field, raw
):
    op = make_operator(max_load_limit=6)
    resp = api.patch_raw(f"/api/operators/{op['id']}", "{" + f'"{field}":{raw}' + "}")
    assert_problem(resp, 422, fields={field})
    assert db_operator(db_rows, op["id"]) == op


@pytest.mark.parametrize("body", ["{}", '{"colour":"blue"}', '{"id":1}'],
                         ids=["empty", "only-unknown", "only-id"])
def test_patch_without_known_field_is_422(api, assert_problem, make_operator, db_rows, body):
    op = make_operator()
    assert_problem(api.patch_raw(f"/api/operators/{op['id']}", body), 422)
    assert db_operator(db_rows, op["id"]) == op


def test_patch_is_all_or_nothing(api, assert_problem, make_operator, db_rows):
    """A valid field next to an invalid one is not applied."""
    op = make_operator(max_load_limit=6)
    resp = api.patch(
        f"/api/operators/{op['id']}",
        json={"name": unique("never"), "is_active": False, "max_load_limit": -1},
    )
    assert_problem(resp, 422, fields={"max_load_limit"})
    assert db_operator(db_rows, op["id"]) == op


def test_patch_errors_name_every_bad_field(api, assert_problem, make_operator, db_rows):
    op = make_operator()
    problem = assert_problem(
        api.patch(f"/api/operators/{op['id']}",
                  json={"name": 5, "max_load_limit": "x", "is_active": None}),
        422,
        fields={"name", "max_load_limit", "is_active"},
    )
    assert len(problem["errors"]) == 3, problem
    assert db_operator(db_rows, op["id"]) == op


@pytest.mark.parametrize("raw", ["[]", '"x"', "5", "null"])
def test_patch_top_level_not_object_is_422(api, assert_problem, make_operator, db_rows, raw):
    op = make_operator()
    assert_problem(api.patch_raw(f"/api/operators/{op['id']}", raw), 422)
    assert db_operator(db_rows, op["id"]) == op
