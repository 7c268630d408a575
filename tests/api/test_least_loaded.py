"""The least-loaded mode (issue 14): a source's `mode`, PATCH /api/sources/{id}, the mode in
source objects and stats, intakes and drains by the smallest load / weight (ties by weight), the
history's note, and the dry run in that mode against hand-computed cases and real intakes.

Sequential intakes are exact water-filling: each goes to the eligible operator with the smallest
active_contacts / weight, so after N of them the loads are known (up to a tie at the end)."""

import math

import pytest
from helpers import (MISSING_ID, SOURCE_KEYS, check_json, check_problem, configure, new_email, post, require_env,
                     set_operator)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def patch_source(api, source_id, body):
    return api.patch(f"/api/sources/{source_id}", json=body)


def get_source(api, source_id):
    return check_json(api.get(f"/api/sources/{source_id}"), 200)


def least_loaded_source(api, make_source, make_operator, specs):
    """A least-loaded source with fresh operators: specs [(weight, max_load_limit)]."""
    src = make_source()
    check_json(patch_source(api, src["id"], {"mode": "least_loaded"}), 200)
    ops = [make_operator(max_load_limit=limit)["id"] for _, limit in specs]
    configure(api, check_json, src["id"], [(o, w) for o, (w, _) in zip(ops, specs)])
    return src, ops


def loads(api, ids):
    return [check_json(api.get(f"/api/operators/{o}"), 200)["active_contacts"] for o in ids]


def simulate(api, source_id, contacts, operators=None):
    body = {"contacts": contacts}
    if operators is not None:
        body["operators"] = [{"operator_id": o, "weight": w} for o, w in operators]
    sim = check_json(api.post(f"/api/sources/{source_id}/simulate", json=body), 200)
    return sim, {o["operator_id"]: o for o in sim["operators"]}


# --- the field ---

def test_mode_defaults_to_weighted_random_and_patch_sets_it(api, make_source):
    src = make_source()
    assert set(src) == SOURCE_KEYS and src["mode"] == "weighted_random", src
    got = check_json(patch_source(api, src["id"], {"mode": "least_loaded"}), 200)
    assert got == {**src, "mode": "least_loaded"}, got
    assert get_source(api, src["id"]) == got
    assert [s for s in check_json(api.get("/api/sources"), 200) if s["id"] == src["id"]] == [got]
    stats = check_json(api.get(f"/api/sources/{src['id']}/stats"), 200)
    assert stats["mode"] == "least_loaded", stats
    # with other fields, and back
    got = check_json(patch_source(api, src["id"], {"mode": "weighted_random", "description": "d"}), 200)
    assert (got["mode"], got["description"]) == ("weighted_random", "d"), got
    assert check_json(api.get(f"/api/sources/{src['id']}/stats"), 200)["mode"] == "weighted_random"
    check_problem(patch_source(api, MISSING_ID, {"mode": "least_loaded"}), 404)


@pytest.mark.parametrize("body, fields", [
    ({"mode": "LEAST"}, {"mode"}),
    ({"mode": "Least_Loaded"}, {"mode"}),
    ({"mode": 1}, {"mode"}),
    ({"mode": None}, {"mode"}),
    ({"mode": ""}, {"mode"}),
    ({"mode": True}, {"mode"}),
    ({"mode": ["least_loaded"]}, {"mode"}),
    ({"mode": "least_loaded "}, {"mode"}),
    ({"mode": "m" * 40}, {"mode"}),
    ({"mode": "round_robin", "name": ""}, {"mode", "name"}),
    ({"mode": "least_loaded", "accept_timeout_seconds": 1}, {"accept_timeout_seconds"}),
])
def test_mode_refusals_change_nothing(api, make_source, db_rows, body, fields):
    src = make_source(description="keep")
    check_json(patch_source(api, src["id"], {"mode": "least_loaded"}), 200)
    before = get_source(api, src["id"])
    row = db_rows("SELECT sources::text FROM sources WHERE id = %s", (src["id"],))
    problem = check_problem(patch_source(api, src["id"], body), 422, fields=fields)
    if "mode" in fields:
        assert any(e["field"] == "mode" for e in problem["errors"]), problem
    assert get_source(api, src["id"]) == before
    assert db_rows("SELECT sources::text FROM sources WHERE id = %s", (src["id"],)) == row


def test_unknown_mode_in_the_database_is_refused_by_its_constraint(db_rows):
    """The constraint the API maps to 422 mode (src/pg.c) exists under its name."""
    assert db_rows("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'sources_mode'")


# --- intakes and drains ---

def test_sequential_intakes_fill_by_load_over_weight(api, make_source, make_operator, db_rows):
    """Weights 1, 2, 3: 12 intakes reach the water level 2 exactly (2, 4, 6), each intake going to
    an operator whose load / weight was the smallest just before it."""
    src, ops = least_loaded_source(api, make_source, make_operator, [(1, 100), (2, 100), (3, 100)])
    weights = [1, 2, 3]
    for _ in range(12):
        before = loads(api, ops)
        body = post(api, check_json, src["id"])
        k = ops.index(body["operator_id"])
        assert before[k] / weights[k] == min(b / w for b, w in zip(before, weights)), (before, body)
    assert loads(api, ops) == [2, 4, 6]
    # the history says the mode, and every candidate was eligible
    hist = check_json(api.get(f"/api/contacts/{body['id']}/assignments"), 200)
    assert hist[0]["reason"] == "intake" and hist[0]["note"] == "least_loaded", hist
    assert all(c["eligible"] for c in hist[0]["candidates"]), hist


def test_intakes_start_from_the_current_loads(api, make_source, make_operator):
    """An operator already busy with another source's contacts waits until the others catch up."""
    busy = make_operator(max_load_limit=100)["id"]
    other = make_source()
    configure(api, check_json, other["id"], [(busy, 1)])
    for _ in range(5):
        post(api, check_json, other["id"], busy)
    src, (idle,) = least_loaded_source(api, make_source, make_operator, [(1, 100)])
    configure(api, check_json, src["id"], [(busy, 1), (idle, 1)])
    for _ in range(5):
        post(api, check_json, src["id"], idle)
    assert loads(api, [busy, idle]) == [5, 5]
    got = {post(api, check_json, src["id"])["operator_id"] for _ in range(2)}
    assert got == {busy, idle} and loads(api, [busy, idle]) == [6, 6]


def test_skips_inactive_and_full_and_waits_when_nobody_can(api, make_source, make_operator):
    src, (a, b) = least_loaded_source(api, make_source, make_operator, [(1, 1), (1, 3)])
    set_operator(api, check_json, b, is_active=False)
    post(api, check_json, src["id"], a)
    body = post(api, check_json, src["id"], None)  # a full, b inactive: it waits
    hist = check_json(api.get(f"/api/contacts/{body['id']}/assignments"), 200)
    assert hist[0]["note"] in ("all at limit", "all inactive"), hist
    set_operator(api, check_json, b, is_active=True)  # the activation drains the queue to b
    assert check_json(api.get(f"/api/contacts/{body['id']}"), 200)["operator_id"] == b


def test_drain_on_configuration_follows_the_mode(api, make_source, make_operator):
    """Six contacts wait for a source with nobody configured; configuring weights 1 and 2 drains
    them in the same request, by load / weight: 2 and 4 (a weighted draw would vary)."""
    src = make_source()
    check_json(patch_source(api, src["id"], {"mode": "least_loaded"}), 200)
    waiting = [post(api, check_json, src["id"], None)["id"] for _ in range(6)]
    a, b = make_operator(max_load_limit=50)["id"], make_operator(max_load_limit=50)["id"]
    configure(api, check_json, src["id"], [(a, 1), (b, 2)])
    assert loads(api, [a, b]) == [2, 4]
    hist = check_json(api.get(f"/api/contacts/{waiting[0]}/assignments"), 200)
    assert [(h["reason"], h["note"]) for h in hist] == [("intake", "no operators configured"),
                                                         ("backlog", "least_loaded")], hist


# --- the dry run in the source's mode ---

def test_dry_run_uses_the_mode_hand_cases(api, make_source, make_operator):
    src, (a, b, c) = least_loaded_source(api, make_source, make_operator, [(1, 100), (2, 100), (3, 100)])
    # 12 arrivals: the water level 2, no tie at the end
    sim, ops = simulate(api, src["id"], 12)
    assert (sim["mode"], sim["method"], sim["expected_waiting"]) == ("least_loaded", "closed_form", 0), sim
    assert [ops[o]["expected_contacts"] for o in (a, b, c)] == [2, 4, 6]
    assert all(ops[o]["std_error"] == 0 for o in (a, b, c))
    # 2 arrivals: the first two of the three-way tie at 0, drawn by weight without replacement
    sim, ops = simulate(api, src["id"], 2)
    assert sim["method"] == "exact", sim
    for o, want in ((a, 5 / 12), (b, 11 / 15), (c, 17 / 20)):
        assert abs(ops[o]["expected_contacts"] - want) < 1e-6, (o, ops[o], want)
    # a preview keeps the source's mode: weights 1 and 1 -> 1.5 each of 3
    sim, ops = simulate(api, src["id"], 3, [(a, 1), (b, 1)])
    assert (sim["mode"], sim["preview"]) == ("least_loaded", True), sim
    assert ops[a]["expected_contacts"] == 1.5 and ops[b]["expected_contacts"] == 1.5, ops


@pytest.mark.slow
def test_dry_run_matches_real_intakes(api, make_source, make_operator):
    """Weights 1 and 2, 4 intakes, 30 copies: A gets 1 (the tie at 0) + 1/3 of the tie at 1 (4/3),
    B 8/3. Each copy is simulated, then sent its 4 intakes one after another; the mean over the
    copies must be within 4.5 standard errors (A's count is 1 + Bernoulli(1/3)) of the figure."""
    reps, n = 30, 4
    counts = []
    for _ in range(reps):
        src, (a, b) = least_loaded_source(api, make_source, make_operator, [(1, 100), (2, 100)])
        sim, ops = simulate(api, src["id"], n)
        # (the answer has 6 decimals)
        assert abs(ops[a]["expected_contacts"] - 4 / 3) < 1e-5 and abs(ops[b]["expected_contacts"] - 8 / 3) < 1e-5
        got = [post(api, check_json, src["id"])["operator_id"] for _ in range(n)]
        counts.append(got.count(a))
        assert got.count(a) + got.count(b) == n
    mean = sum(counts) / reps
    se = math.sqrt((1 / 3) * (2 / 3) / reps)
    assert abs(mean - 4 / 3) <= 4.5 * se, (mean, counts)
    assert set(counts) <= {1, 2}, counts  # never more or less: the rest is deterministic


def test_weighted_random_source_has_no_note(api, source_with_operator):
    src, op = source_with_operator()
    body = post(api, check_json, src["id"], op["id"], email=new_email("wr"))
    hist = check_json(api.get(f"/api/contacts/{body['id']}/assignments"), 200)
    assert hist[0]["note"] is None, hist
