"""Configuration versions (issue 11): every decision references a numbered, immutable version of
its source's configuration, and no worker caches one.

- a weight change (POST /api/sources/{id}/operators) is seen by the very next intake, whichever
  worker takes it; so is an operator deactivated or its limit lowered (PATCH /api/operators);
- each such change is a new config_version in the history, an identical configuration is not;
- the history of a source with many operators keeps saying which ones were eligible (every
  configured operator listed, each with `eligible`), also when some are full.
"""

from helpers import configure, new_email, patch_contact, post, require_env, set_operator

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def history(api, assert_json, cid):
    return assert_json(api.get(f"/api/contacts/{cid}/assignments"), 200)


def test_weight_change_seen_by_the_next_intake(api, assert_json, make_source, make_operator):
    src = make_source()
    a = make_operator(max_load_limit=1000)
    b = make_operator(max_load_limit=1000)
    for round_ in range(6):  # alternate: every intake right after a change sees it
        only, other = (a, b) if round_ % 2 == 0 else (b, a)
        configure(api, assert_json, src["id"], [(only["id"], 1)])
        for _ in range(4):  # 4 POSTs land on several of the 4 workers
            assert post(api, assert_json, src["id"])["operator_id"] == only["id"]
        # the other one gets a huge weight: the very next intake goes to it (P(a) = 1e-6)
        configure(api, assert_json, src["id"], [(only["id"], 1), (other["id"], 1000000)])
        assert post(api, assert_json, src["id"])["operator_id"] == other["id"]


def test_deactivation_and_limit_seen_by_the_next_intake(api, assert_json, make_source, make_operator):
    src = make_source()
    a = make_operator(max_load_limit=1000)
    b = make_operator(max_load_limit=1000)
    configure(api, assert_json, src["id"], [(a["id"], 1000000), (b["id"], 1)])
    assert post(api, assert_json, src["id"])["operator_id"] == a["id"]
    set_operator(api, assert_json, a["id"], is_active=False)
    assert post(api, assert_json, src["id"])["operator_id"] == b["id"]
    set_operator(api, assert_json, a["id"], is_active=True)
    assert post(api, assert_json, src["id"])["operator_id"] == a["id"]
    set_operator(api, assert_json, a["id"], max_load_limit=2)  # a's load is 2 now: full
    assert post(api, assert_json, src["id"])["operator_id"] == b["id"]


def test_each_change_is_a_new_version(api, assert_json, make_source, make_operator):
    src = make_source()
    a = make_operator(max_load_limit=10)
    b = make_operator(max_load_limit=10)

    def version():
        c = post(api, assert_json, src["id"])
        e, = history(api, assert_json, c["id"])
        return e["config_version"], e

    assert version()[0] == 0  # never configured
    configure(api, assert_json, src["id"], [(a["id"], 2)])
    v1, _ = version()
    configure(api, assert_json, src["id"], [(a["id"], 2)])  # identical: no new version
    assert version()[0] == v1
    configure(api, assert_json, src["id"], [(a["id"], 3), (b["id"], 1)])
    v2, e = version()
    assert v2 > v1, (v1, v2)
    assert [(c["operator_id"], c["weight"]) for c in e["candidates"]] == [(a["id"], 3), (b["id"], 1)]
    set_operator(api, assert_json, b["id"], name="renamed")  # not configuration
    assert version()[0] == v2
    set_operator(api, assert_json, b["id"], max_load_limit=9)
    v3, e = version()
    assert v3 > v2 and [c["max_load_limit"] for c in e["candidates"]] == [10, 9], e


def test_many_operators_history_says_who_was_eligible(api, assert_json, make_source, make_operator):
    """60 operators, 3 of them full and 2 inactive: an intake's entry lists all 60, eligible
    exactly for the 55 others; the chosen one among them with its load and limit."""
    src = make_source()
    ops = [make_operator(max_load_limit=50) for _ in range(55)]
    full = [make_operator(max_load_limit=1) for _ in range(3)]
    off = [make_operator(max_load_limit=50, is_active=False) for _ in range(2)]
    filler = make_source()
    configure(api, assert_json, filler["id"], [(o["id"], 1) for o in full])
    for _ in range(3):
        post(api, assert_json, filler["id"])
    configure(api, assert_json, src["id"], [(o["id"], 1 + i % 7) for i, o in enumerate(ops + full + off)])
    c = post(api, assert_json, src["id"])
    e, = history(api, assert_json, c["id"])
    eligible = {x["operator_id"] for x in e["candidates"] if x["eligible"]}
    assert len(e["candidates"]) == 60, e
    assert eligible == {o["id"] for o in ops}, e
    assert c["operator_id"] in eligible and e["operator_id"] == c["operator_id"], e
    assert e["load_before"] == 0 and e["max_load_limit"] == 50, e
    # a manual move records the same view of who was eligible
    target = next(o for o in ops if o["id"] != c["operator_id"])
    assert_json(patch_contact(api, c["id"], {"operator_id": target["id"]}), 200)
    m = history(api, assert_json, c["id"])[-1]
    assert m["reason"] == "manual" and m["config_version"] == e["config_version"], m
    assert {x["operator_id"] for x in m["candidates"] if x["eligible"]} == {o["id"] for o in ops}, m
