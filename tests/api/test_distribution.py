"""Distribution of a new contact to an operator (POST /api/contacts).

Candidates are the operators configured for the contact's source that are active and whose load
(their contacts with status 'active') is below max_load_limit; one is drawn with probability
weight / (sum of the candidates' weights); with no candidate the contact is stored with
operator_id null. GET /api/operators/{id} reports the load as active_contacts, which must always
equal SELECT count(*) FROM contacts WHERE operator_id = X AND status = 'active'.

An unassigned contact does not wait forever: whenever capacity may appear (a contact closed or
unassigned, an operator activated, a limit raised, a source's weights configured) the request
that made the change assigns the affected sources' waiting contacts, oldest first, up to a
batch of 16, before it answers. The scenarios below that make capacity appear therefore expect
the waiting contacts to be assigned by the time that response arrives.

Every scenario uses fresh operators and sources, so other tests' data does not interfere.
"""

from fractions import Fraction

import pytest
from helpers import (HUGE, assert_loads, binomial_interval, configure, new_email, operators_of,
                     pooled_posts, post, require_env, set_operator, simultaneous)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


# ---------------------------------------------------------------- local helpers


def post_many(api, assert_json, source_id, n):
    return [post(api, assert_json, source_id)["operator_id"] for _ in range(n)]


def posted_many(api, assert_json, source_id, n):
    """Like post_many but returns the created contacts (dicts)."""
    return [post(api, assert_json, source_id) for _ in range(n)]


def ids(contacts):
    return [c["id"] for c in contacts]


# ---------------------------------------------------------------- weighted choice

N_WEIGHTED = 4000
THREADS = 8


@pytest.mark.load
def test_weighted_choice_10_30(api, base_url, assert_json, make_source, make_operator, db_rows):
    """Weights 10 and 30: operator A must get about N/4 of N = 4000 contacts.

    count(A) ~ Binomial(N = 4000, p = 10/40 = 1/4): mean 1000, sd = sqrt(4000 * 1/4 * 3/4) = 27.39.
    Acceptance interval computed exactly (binomial_interval, integer arithmetic with math.comb)
    for a false-failure chance of at most 5e-8 in each tail:
        [857, 1148]   P(X < 857) = 4.99e-8, P(X > 1148) = 4.59e-8, together 9.6e-8 < 1e-6.
    (Cross-check with the normal bound: 1000 -/+ 5.33 * 27.39 = [854.0, 1146.0].)
    A server that ignored the weights (p = 1/2, mean 2000) or swapped them (p = 3/4, mean 3000)
    is rejected with certainty for all practical purposes.
    """
    lo, hi, false_fail = binomial_interval(N_WEIGHTED, Fraction(10, 40), Fraction(5, 10 ** 8))
    assert (lo, hi) == (857, 1148)  # the interval quoted above
    assert false_fail < Fraction(1, 10 ** 6)

    src = make_source()
    a = make_operator(max_load_limit=HUGE)
    b = make_operator(max_load_limit=HUGE)
    configure(api, assert_json, src["id"], [(a["id"], 10), (b["id"], 30)])

    results = [(r.status_code, r.json().get("operator_id") if r.status_code == 201
                else r.text[:200])
               for r in pooled_posts(base_url, src["id"], N_WEIGHTED, THREADS, tag="w")]
    failures = [r for r in results if r[0] != 201]
    assert not failures, f"{len(failures)} failed posts, e.g. {failures[:3]}"
    got = [op for _, op in results]
    count_a = got.count(a["id"])
    count_b = got.count(b["id"])
    assert count_a + count_b == N_WEIGHTED, f"unexpected operators: {set(got)}"
    assert lo <= count_a <= hi, f"operator A (weight 10 of 40) got {count_a} of {N_WEIGHTED}"
    assert_loads(api, assert_json, db_rows, {a["id"]: count_a, b["id"]: count_b})
    per_op = dict(db_rows("SELECT operator_id, count(*) FROM contacts WHERE source_id = %s"
                          " GROUP BY operator_id", (src["id"],)))
    assert per_op == {a["id"]: count_a, b["id"]: count_b}


def test_single_candidate_gets_everything(api, assert_json, source_with_operator, db_rows):
    src, a = source_with_operator(max_load_limit=HUGE)
    assert post_many(api, assert_json, src["id"], 20) == [a["id"]] * 20
    assert_loads(api, assert_json, db_rows, {a["id"]: 20})


# ---------------------------------------------------------------- who is not a candidate


def test_inactive_operator_gets_nothing(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a = make_operator(max_load_limit=HUGE)
    off = make_operator(max_load_limit=HUGE, is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (off["id"], HUGE)])
    assert post_many(api, assert_json, src["id"], 40) == [a["id"]] * 40
    assert_loads(api, assert_json, db_rows, {a["id"]: 40, off["id"]: 0})


def test_operator_with_limit_0_gets_nothing(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    a = make_operator(max_load_limit=HUGE)
    zero = make_operator(max_load_limit=0)
    configure(api, assert_json, src["id"], [(zero["id"], HUGE), (a["id"], 1)])
    assert post_many(api, assert_json, src["id"], 40) == [a["id"]] * 40
    assert_loads(api, assert_json, db_rows, {a["id"]: 40, zero["id"]: 0})


def test_operator_filled_to_limit_elsewhere_gets_nothing(api, assert_json, make_source,
                                                         make_operator, db_rows):
    """The load counts the operator's active contacts from every source."""
    s1, s2 = make_source(), make_source()
    full = make_operator(max_load_limit=2)
    a = make_operator(max_load_limit=HUGE)
    configure(api, assert_json, s1["id"], [(full["id"], 1)])
    assert post_many(api, assert_json, s1["id"], 2) == [full["id"]] * 2
    configure(api, assert_json, s2["id"], [(full["id"], HUGE), (a["id"], 1)])
    assert post_many(api, assert_json, s2["id"], 30) == [a["id"]] * 30
    assert_loads(api, assert_json, db_rows, {full["id"]: 2, a["id"]: 30})


def test_limit_3_fills_exactly_then_unassigned_then_others(api, assert_json, source_with_operator,
                                                           make_operator, db_rows):
    """Limit 3: three contacts fill the operator, the next three wait. Configuring the source
    with another operator that has room assigns the three waiting contacts to it within that
    POST (the full operator takes none of them despite its huge weight); later contacts go to it
    too, and nothing is left waiting."""
    src, three = source_with_operator(weight=5, max_load_limit=3)
    made = posted_many(api, assert_json, src["id"], 6)
    assert [c["operator_id"] for c in made] == [three["id"]] * 3 + [None] * 3
    assert_loads(api, assert_json, db_rows, {three["id"]: 3})
    other = make_operator(max_load_limit=HUGE)
    configure(api, assert_json, src["id"], [(three["id"], HUGE), (other["id"], 1)])
    assert operators_of(db_rows, ids(made)) == [three["id"]] * 3 + [other["id"]] * 3
    assert_loads(api, assert_json, db_rows, {three["id"]: 3, other["id"]: 3})
    assert post_many(api, assert_json, src["id"], 10) == [other["id"]] * 10
    assert_loads(api, assert_json, db_rows, {three["id"]: 3, other["id"]: 13})
    unassigned = db_rows("SELECT count(*) FROM contacts WHERE source_id = %s"
                         " AND operator_id IS NULL", (src["id"],))[0][0]
    assert unassigned == 0


def test_limit_holds_under_concurrency(api, base_url, assert_json, source_with_operator, db_rows):
    """40 simultaneous contacts for one operator with limit 5: exactly 5 get it."""
    src, five = source_with_operator(max_load_limit=5)
    responses = simultaneous(base_url, [
        ("POST", "/api/contacts", {"email": new_email("lim"), "source_id": src["id"]})
        for _ in range(40)])
    results = [(r.status_code, r.json().get("operator_id")) for r in responses]
    assert [st for st, _ in results] == [201] * 40
    ops = [op for _, op in results]
    assert ops.count(five["id"]) == 5 and ops.count(None) == 35, ops
    assert_loads(api, assert_json, db_rows, {five["id"]: 5})


def test_nobody_eligible_stays_unassigned(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    off = make_operator(max_load_limit=HUGE, is_active=False)
    zero = make_operator(max_load_limit=0)
    full = make_operator(max_load_limit=1)
    other_src = make_source()
    configure(api, assert_json, other_src["id"], [(full["id"], 1)])
    assert post(api, assert_json, other_src["id"])["operator_id"] == full["id"]
    configure(api, assert_json, src["id"], [(off["id"], 3), (zero["id"], 2), (full["id"], 1)])
    made = [post(api, assert_json, src["id"]) for _ in range(5)]
    assert [c["operator_id"] for c in made] == [None] * 5
    for c in made:
        assert db_rows("SELECT operator_id, status FROM contacts WHERE id = %s",
                       (c["id"],)) == [(None, "active")]
    assert_loads(api, assert_json, db_rows, {off["id"]: 0, zero["id"]: 0, full["id"]: 1})


def test_source_without_operators_unassigned(api, assert_json, make_source, make_operator, db_rows):
    src = make_source()
    bystander = make_operator(max_load_limit=HUGE)  # active, free, but not configured for src
    made = [post(api, assert_json, src["id"]) for _ in range(3)]
    assert [c["operator_id"] for c in made] == [None] * 3
    assert db_rows("SELECT count(*) FROM contacts WHERE source_id = %s AND operator_id IS NULL",
                   (src["id"],))[0][0] == 3
    assert_loads(api, assert_json, db_rows, {bystander["id"]: 0})


def test_cleared_configuration_unassigned(api, assert_json, source_with_operator, db_rows):
    src, a = source_with_operator(max_load_limit=HUGE)
    assert post(api, assert_json, src["id"])["operator_id"] == a["id"]
    configure(api, assert_json, src["id"], [])
    assert post_many(api, assert_json, src["id"], 3) == [None] * 3
    assert_loads(api, assert_json, db_rows, {a["id"]: 1})


def test_operator_removed_from_source_gets_nothing(api, assert_json, make_source, make_operator,
                                                   db_rows):
    src = make_source()
    a = make_operator(max_load_limit=HUGE)
    b = make_operator(max_load_limit=HUGE)
    configure(api, assert_json, src["id"], [(a["id"], HUGE), (b["id"], 1)])
    configure(api, assert_json, src["id"], [(b["id"], 1)])
    assert post_many(api, assert_json, src["id"], 20) == [b["id"]] * 20
    assert_loads(api, assert_json, db_rows, {a["id"]: 0, b["id"]: 20})


# ---------------------------------------------------------------- changes over time


def test_deactivated_then_reactivated_receives_again(api, assert_json, source_with_operator,
                                                     db_rows):
    """While inactive the operator receives nothing and four contacts wait. Reactivating it
    assigns the waiting contacts to it within the PATCH, oldest first, up to its free capacity
    (limit 3, load 1: the two oldest); the two newest keep waiting, and it is then full."""
    src, r = source_with_operator(max_load_limit=3)
    assert post(api, assert_json, src["id"])["operator_id"] == r["id"]
    set_operator(api, assert_json, r["id"], is_active=False)
    waiting = posted_many(api, assert_json, src["id"], 4)
    assert [c["operator_id"] for c in waiting] == [None] * 4
    assert_loads(api, assert_json, db_rows, {r["id"]: 1})
    body = set_operator(api, assert_json, r["id"], is_active=True)
    assert body["is_active"] is True and body["active_contacts"] == 3, body
    assert operators_of(db_rows, ids(waiting)) == [r["id"], r["id"], None, None]
    assert_loads(api, assert_json, db_rows, {r["id"]: 3})
    assert post(api, assert_json, src["id"])["operator_id"] is None  # full again
    set_operator(api, assert_json, r["id"], max_load_limit=10)
    assert operators_of(db_rows, ids(waiting)) == [r["id"]] * 4
    assert post_many(api, assert_json, src["id"], 2) == [r["id"]] * 2
    assert_loads(api, assert_json, db_rows, {r["id"]: 8})


def test_deactivated_operator_shares_again_with_weights(api, assert_json, make_source,
                                                        make_operator, db_rows):
    """A configured operator that was inactive from the start receives once activated.

    While big (weight 10^6) is inactive every contact goes to small; then big is activated and
    small deactivated (so the check does not depend on chance) and every contact goes to big.
    """
    src = make_source()
    big = make_operator(max_load_limit=HUGE, is_active=False)
    small = make_operator(max_load_limit=HUGE)
    configure(api, assert_json, src["id"], [(big["id"], HUGE), (small["id"], 1)])
    assert post_many(api, assert_json, src["id"], 10) == [small["id"]] * 10
    set_operator(api, assert_json, big["id"], is_active=True)
    set_operator(api, assert_json, small["id"], is_active=False)
    assert post_many(api, assert_json, src["id"], 10) == [big["id"]] * 10
    assert_loads(api, assert_json, db_rows, {big["id"]: 10, small["id"]: 10})


def test_limit_lowered_then_raised(api, assert_json, source_with_operator, db_rows):
    """Lowering the limit below the load keeps the operator's contacts but stops new ones; raising
    it back to the load changes nothing; raising it above the load assigns the waiting contacts,
    oldest first, up to the new room, within the PATCH."""
    src, op = source_with_operator(max_load_limit=10)
    assert post_many(api, assert_json, src["id"], 4) == [op["id"]] * 4
    body = set_operator(api, assert_json, op["id"], max_load_limit=2)  # below the current load
    assert (body["max_load_limit"], body["active_contacts"]) == (2, 4), body
    w1, w2 = posted_many(api, assert_json, src["id"], 2)
    assert (w1["operator_id"], w2["operator_id"]) == (None, None)
    body = set_operator(api, assert_json, op["id"], max_load_limit=4)  # equal to the load: full
    assert body["active_contacts"] == 4, body
    w3 = post(api, assert_json, src["id"])
    assert w3["operator_id"] is None
    assert operators_of(db_rows, ids([w1, w2, w3])) == [None, None, None]
    body = set_operator(api, assert_json, op["id"], max_load_limit=6)  # room for two: w1, w2
    assert (body["max_load_limit"], body["active_contacts"]) == (6, 6), body
    assert operators_of(db_rows, ids([w1, w2, w3])) == [op["id"], op["id"], None]
    assert post(api, assert_json, src["id"])["operator_id"] is None  # full again; w4 waits
    assert_loads(api, assert_json, db_rows, {op["id"]: 6})
    body = set_operator(api, assert_json, op["id"], max_load_limit=9)  # room for 3, 2 waiting
    assert body["active_contacts"] == 8, body
    assert db_rows("SELECT count(*) FROM contacts WHERE source_id = %s AND operator_id IS NULL",
                   (src["id"],))[0][0] == 0
    assert post(api, assert_json, src["id"])["operator_id"] == op["id"]
    assert_loads(api, assert_json, db_rows, {op["id"]: 9})


def test_closing_contact_frees_a_slot(api, assert_json, source_with_operator, db_rows):
    """The load is the number of *active* contacts: closing one (PATCH /api/contacts/{id}
    status closed) frees one slot, and the contact that was waiting for it is assigned to the
    operator by the time the PATCH answers; a further contact waits again."""
    src, op = source_with_operator(max_load_limit=2)
    first, _second = (post(api, assert_json, src["id"]) for _ in range(2))
    waiting = post(api, assert_json, src["id"])
    assert waiting["operator_id"] is None
    closed = assert_json(api.patch(f"/api/contacts/{first['id']}", json={"status": "closed"}), 200)
    assert (closed["id"], closed["status"], closed["operator_id"]) == (first["id"], "closed",
                                                                       op["id"])
    assert operators_of(db_rows, ids([waiting])) == [op["id"]]
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})
    assert post(api, assert_json, src["id"])["operator_id"] is None
    assert_loads(api, assert_json, db_rows, {op["id"]: 2})


def test_same_lead_counts_per_contact(api, assert_json, source_with_operator, db_rows):
    """One lead posting many times fills the operator's limit like different leads would."""
    src, op = source_with_operator(max_load_limit=3)
    email = new_email("same")
    got = [post(api, assert_json, src["id"], email=email)["operator_id"] for _ in range(5)]
    assert got == [op["id"]] * 3 + [None] * 2
    assert_loads(api, assert_json, db_rows, {op["id"]: 3})
