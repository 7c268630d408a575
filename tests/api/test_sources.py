"""Sources and their operator configuration (weights)."""

import uuid

import pytest
from helpers import MISSING_ID, SOURCE_KEYS, assert_create_rejected, configure, require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def db_source(db_rows, src_id):
    rows = db_rows("SELECT id, name, description, accept_timeout_seconds, mode, sticky_window_seconds FROM sources"
                   " WHERE id = %s", (src_id,))
    return dict(zip(("id", "name", "description", "accept_timeout_seconds", "mode", "sticky_window_seconds"),
                    rows[0])) if rows else None


def db_config(db_rows, src_id):
    """The stored configuration of a source as API-shaped entries, by operator_id."""
    rows = db_rows(
        "SELECT id, operator_id, source_id, weight FROM source_operators"
        " WHERE source_id = %s ORDER BY operator_id",
        (src_id,),
    )
    return [dict(zip(("id", "operator_id", "source_id", "weight"), r)) for r in rows]


def config_path(src_id):
    return f"/api/sources/{src_id}/operators"


# ---------------------------------------------------------------- sources


def test_create_source_without_description(api, assert_json, db_rows):
    name = unique("src")
    resp = api.post("/api/sources", json={"name": name})
    body = assert_json(resp, 201)
    assert type(body["id"]) is int and body["id"] > 0
    assert body == {"id": body["id"], "name": name, "description": None, "accept_timeout_seconds": None,
                    "mode": "weighted_random", "sticky_window_seconds": None}
    assert resp.headers.get("Location") == f"/api/sources/{body['id']}"
    assert db_source(db_rows, body["id"]) == body


@pytest.mark.parametrize("description", [None, "", "from the landing page", "d" * 2000])
def test_create_source_with_description(api, assert_json, db_rows, description):
    body = assert_json(
        api.post("/api/sources", json={"name": unique("src"), "description": description,
                                       "unknown": [1, 2]}),
        201,
    )
    assert body["description"] == description
    assert set(body) == SOURCE_KEYS
    assert db_source(db_rows, body["id"]) == body


def test_source_name_200_chars_ok(api, assert_json):
    name = uuid.uuid4().hex + "n" * 168
    assert len(name) == 200
    assert assert_json(api.post("/api/sources", json={"name": name}), 201)["name"] == name


SOURCE_BAD = [
    ({"description": "no name"}, {"name"}),
    ({"name": ""}, {"name"}),
    ({"name": "X" * 201}, {"name"}),
    ({"name": 5}, {"name"}),
    ({"name": None}, {"name"}),
    ({"name": ["a"]}, {"name"}),
    ({"name": "MARK", "description": 5}, {"description"}),
    ({"name": "MARK", "description": True}, {"description"}),
    ({"name": "MARK", "description": {"a": 1}}, {"description"}),
    ({"name": "MARK", "description": "d" * 2001}, {"description"}),
    ({"name": 7, "description": 8}, {"name", "description"}),
]


@pytest.mark.parametrize("body,fields", SOURCE_BAD,
                         ids=["missing-name", "empty-name", "long-name", "int-name",
                              "null-name", "array-name", "int-desc", "bool-desc",
                              "object-desc", "long-desc", "both-bad"])
def test_create_source_rejects_bad_input(api, db_count, body, fields):
    assert_create_rejected(api, db_count, "sources", body, fields)


@pytest.mark.parametrize("raw", ["[]", '"x"', "1", "null"])
def test_create_source_top_level_not_object(api, assert_problem, db_count, raw):
    before = db_count("sources")
    assert_problem(api.post_raw("/api/sources", raw), 422)
    assert db_count("sources") == before


def test_duplicate_source_name_is_409(api, assert_problem, make_source, db_count, db_rows):
    src = make_source(description="first")
    before = db_count("sources")
    resp = api.post("/api/sources", json={"name": src["name"], "description": "second"})
    assert_problem(resp, 409)
    assert db_count("sources") == before
    assert db_count("sources", "name = %s", (src["name"],)) == 1
    assert db_source(db_rows, src["id"]) == src


def test_get_source_and_list(api, assert_json, make_source):
    mine = [make_source(), make_source(description="b"), make_source(description=None)]
    for src in mine:
        assert assert_json(api.get(f"/api/sources/{src['id']}"), 200) == src
    listed = assert_json(api.get("/api/sources"), 200)
    assert isinstance(listed, list)
    ids = [s["id"] for s in listed]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "not strictly ordered by id"
    for s in listed:
        assert set(s) == SOURCE_KEYS, s
    by_id = {s["id"]: s for s in listed}
    for src in mine:
        assert by_id.get(src["id"]) == src


def test_get_unknown_source_is_404(api, assert_problem):
    assert_problem(api.get(f"/api/sources/{MISSING_ID}"), 404)


# ---------------------------------------------------------------- configuration


def _check_entries(entries, src_id, expected):
    """entries must be exactly `expected` ({operator_id: weight}) sorted by operator_id."""
    assert isinstance(entries, list), entries
    for e in entries:
        assert set(e) == {"id", "operator_id", "source_id", "weight"}, e
        assert type(e["id"]) is int and e["source_id"] == src_id
    assert [e["operator_id"] for e in entries] == sorted(expected)
    assert {e["operator_id"]: e["weight"] for e in entries} == expected
    assert len({e["id"] for e in entries}) == len(entries)


def test_new_source_has_empty_config(api, assert_json, make_source):
    src = make_source()
    assert assert_json(api.get(config_path(src["id"])), 200) == []


def test_set_config(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a, b, c = (make_operator() for _ in range(3))
    # sent out of order; the answer is ordered by operator_id
    pairs = [(c["id"], 30), (a["id"], 10), (b["id"], 1000000)]
    entries = configure(api, assert_json, src["id"], pairs)
    _check_entries(entries, src["id"], dict(pairs))
    assert assert_json(api.get(config_path(src["id"])), 200) == entries
    assert db_config(db_rows, src["id"]) == entries


def test_replace_config(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a, b, c = (make_operator() for _ in range(3))
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 2)])
    entries = configure(api, assert_json, src["id"], [(b["id"], 5), (c["id"], 7)])
    _check_entries(entries, src["id"], {b["id"]: 5, c["id"]: 7})
    assert assert_json(api.get(config_path(src["id"])), 200) == entries
    assert db_config(db_rows, src["id"]) == entries


def test_clear_config(api, assert_json, source_with_operator, db_count):
    src, a = source_with_operator(weight=3)
    assert assert_json(api.post(config_path(src["id"]), json={"operators": []}), 200) == []
    assert assert_json(api.get(config_path(src["id"])), 200) == []
    assert db_count("source_operators", "source_id = %s", (src["id"],)) == 0


def test_config_of_one_source_leaves_others_alone(api, assert_json, make_source,
                                                  make_operator, db_rows):
    s1, s2 = make_source(), make_source()
    a, b = make_operator(), make_operator()
    other = configure(api, assert_json, s2["id"], [(a["id"], 4), (b["id"], 6)])
    configure(api, assert_json, s1["id"], [(a["id"], 1)])
    configure(api, assert_json, s1["id"], [(b["id"], 2)])
    configure(api, assert_json, s1["id"], [])
    assert assert_json(api.get(config_path(s2["id"])), 200) == other
    assert db_config(db_rows, s2["id"]) == other


def test_config_accepts_inactive_operator_and_ignores_unknown_fields(
        api, assert_json, make_source, make_operator):
    src = make_source()
    op = make_operator(is_active=False)
    body = {"operators": [{"operator_id": op["id"], "weight": 1, "note": "x"}], "extra": True}
    entries = assert_json(api.post(config_path(src["id"]), json=body), 200)
    _check_entries(entries, src["id"], {op["id"]: 1})


def test_config_unknown_source_is_404(api, assert_problem, make_operator, db_count):
    op = make_operator()
    before = db_count("source_operators")
    resp = api.post(config_path(MISSING_ID),
                    json={"operators": [{"operator_id": op["id"], "weight": 1}]})
    assert_problem(resp, 404)
    assert db_count("source_operators") == before
    assert_problem(api.get(config_path(MISSING_ID)), 404)


def _entry(operator_id, weight):
    """One raw configuration entry; both values are written verbatim (as str() gives them)."""
    return f'{{"operator_id":{operator_id},"weight":{weight}}}'


def _operators(*entries):
    """A raw {"operators": [...]} body made of the given raw entries."""
    return '{"operators":[' + ",".join(str(e) for e in entries) + "]}"


# Each case: a function (a_id, b_id, missing_id) -> raw JSON body, and the
# expected `errors` fields: a set (exactly these), ("includes", field) (at
# least this one; a repeated operator may be reported at both places), or
# None (any non-empty list). The configuration in place before the request
# (a:1, b:2) must survive every one of them.
WEIGHT_0 = {"operators[0].weight"}
OPERATOR_0 = {"operators[0].operator_id"}
CONFIG_BAD = {
    "repeated-operator": (lambda a, b, m: _operators(_entry(a, 1), _entry(a, 2)),
                          ("includes", "operators[1].operator_id")),
    "unknown-operator": (lambda a, b, m: _operators(_entry(a, 1), _entry(m, 2)),
                         {"operators[1].operator_id"}),
    "weight-0": (lambda a, b, m: _operators(_entry(a, 0)), WEIGHT_0),
    "weight-negative": (lambda a, b, m: _operators(_entry(a, -5)), WEIGHT_0),
    "weight-too-big": (lambda a, b, m: _operators(_entry(a, 1000001)), WEIGHT_0),
    "weight-string": (lambda a, b, m: _operators(_entry(a, 4), _entry(b, '"3"')),
                      {"operators[1].weight"}),
    "weight-float": (lambda a, b, m: _operators(_entry(a, "3.0")), WEIGHT_0),
    "weight-exp": (lambda a, b, m: _operators(_entry(a, "1e2")), WEIGHT_0),
    "weight-null": (lambda a, b, m: _operators(_entry(a, "null")), WEIGHT_0),
    "weight-huge": (lambda a, b, m: _operators(_entry(a, 10**30)), WEIGHT_0),
    "weight-missing": (lambda a, b, m: _operators(f'{{"operator_id":{a}}}'), WEIGHT_0),
    "operator-id-string": (lambda a, b, m: _operators(_entry(f'"{a}"', 1)), OPERATOR_0),
    "operator-id-float": (lambda a, b, m: _operators(_entry(f"{a}.5", 1)), OPERATOR_0),
    "operator-id-huge": (lambda a, b, m: _operators(_entry(2**63, 1)), OPERATOR_0),
    "operator-id-missing": (lambda a, b, m: _operators('{"weight":1}'), OPERATOR_0),
    "entry-not-object": (lambda a, b, m: _operators(_entry(a, 1), 5), {"operators[1]"}),
    "missing-operators-key": (lambda a, b, m: "{}", {"operators"}),
    "operators-null": (lambda a, b, m: '{"operators":null}', {"operators"}),
    "operators-object": (lambda a, b, m: f'{{"operators":{_entry(a, 1)}}}', {"operators"}),
    "operators-string": (lambda a, b, m: '{"operators":"all"}', {"operators"}),
    "two-bad-entries": (lambda a, b, m: _operators(_entry(a, 0), _entry(m, 1)),
                        {"operators[0].weight", "operators[1].operator_id"}),
    "top-level-array": (lambda a, b, m: f"[{_entry(a, 1)}]", None),
}


@pytest.mark.parametrize("case", sorted(CONFIG_BAD))
def test_bad_config_is_422_and_keeps_previous(api, assert_json, assert_problem,
                                             make_source, make_operator, db_rows, case):
    build, fields = CONFIG_BAD[case]
    src = make_source()
    a, b = make_operator(), make_operator()
    before = configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 2)])
    stored = db_config(db_rows, src["id"])
    assert stored == before

    resp = api.post_raw(config_path(src["id"]), build(a["id"], b["id"], MISSING_ID))
    if isinstance(fields, tuple):
        problem = assert_problem(resp, 422)
        named = {e["field"] for e in problem["errors"]}
        assert fields[1] in named, problem
        assert all(f.startswith("operators[") for f in named), problem
    else:
        assert_problem(resp, 422, fields=fields)

    assert assert_json(api.get(config_path(src["id"])), 200) == before
    assert db_config(db_rows, src["id"]) == stored


def test_bad_config_on_empty_source_stores_nothing(api, assert_problem, make_source,
                                                   make_operator, db_count):
    src = make_source()
    a = make_operator()
    before = db_count("source_operators")
    resp = api.post(config_path(src["id"]), json={"operators": [
        {"operator_id": a["id"], "weight": 1}, {"operator_id": MISSING_ID, "weight": 1}]})
    assert_problem(resp, 422, fields={"operators[1].operator_id"})
    assert db_count("source_operators") == before
    assert db_count("source_operators", "source_id = %s", (src["id"],)) == 0


def test_get_config_unknown_source_path_forms(api, assert_problem):
    assert_problem(api.get("/api/sources/abc/operators"), 404)
    assert_problem(api.post("/api/sources/abc/operators", json={"operators": []}), 404)
