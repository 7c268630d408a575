"""The drainer commits in small batches: a big backlog drains fully, one batch per transaction.

A source with thousands of waiting contacts gets capacity: the request that raised the limit
assigns its own batch, the drainer the rest, one batch of CRM_DRAIN_BATCH contacts of one source
per transaction (crm_drain_next in autocommit), so the operator rows are never held for the whole
backlog. The contacts are inserted through SQL (fast), waiting and unassigned.
"""

import os

import pytest
from helpers import assert_loads, new_email, require_env, set_operator, wait_until, waiting_ids

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

pytestmark = pytest.mark.slow

BATCH = int(os.environ.get("CRM_DRAIN_BATCH", "16"))  # the server's default
N = 3000


def insert_waiting(db_rows, source_id, n):
    lead = db_rows("INSERT INTO leads (email) VALUES (%s) RETURNING id", (new_email("backlog"),))[0][0]
    return [r[0] for r in db_rows(
        "INSERT INTO contacts (lead_id, source_id) SELECT %s, %s FROM generate_series(1, %s) RETURNING id",
        (lead, source_id, n))]


def test_big_backlog_drains_fully_in_small_batches(api, assert_json, make_source, make_operator, db_rows):
    a, b = make_operator(max_load_limit=0), make_operator(max_load_limit=0)
    src, other = make_source(), make_source()
    for s in (src, other):
        resp = api.post(f"/api/sources/{s['id']}/operators",
                        json={"operators": [{"operator_id": a["id"], "weight": 1},
                                            {"operator_id": b["id"], "weight": 1}]})
        assert_json(resp, 200)
    ids = sorted(insert_waiting(db_rows, src["id"], N))
    other_ids = sorted(insert_waiting(db_rows, other["id"], 2 * BATCH + 1))
    # capacity for everything: each PATCH drains a batch itself and wakes the drainer
    set_operator(api, assert_json, a["id"], max_load_limit=N)
    set_operator(api, assert_json, b["id"], max_load_limit=N)
    wait_until(lambda: not waiting_ids(db_rows, src["id"]) and not waiting_ids(db_rows, other["id"]), 60,
               f"{N} + {len(other_ids)} waiting contacts assigned")

    rows = db_rows("SELECT id, operator_id FROM contacts WHERE id = ANY(%s)", (ids + other_ids,))
    assert all(op in (a["id"], b["id"]) for _, op in rows)
    total = N + len(other_ids)
    loads = {op: sum(1 for _, o in rows if o == op) for op in (a["id"], b["id"])}
    assert sum(loads.values()) == total
    assert_loads(api, assert_json, db_rows, loads)
    # one history row each, reason backlog, assigned oldest first per source
    for s, sids in ((src, ids), (other, other_ids)):
        order = [r[0] for r in db_rows(
            "SELECT a.contact_id FROM assignments a JOIN contacts c ON c.id = a.contact_id"
            " WHERE c.source_id = %s AND a.reason = 'backlog' ORDER BY a.id", (s["id"],))]
        assert order == sids, f"source {s['id']}: not assigned oldest first, or not exactly once"
    # small transactions: no transaction assigned more than a batch (a contact's row version was
    # written by the transaction that assigned it)
    per_tx = [r[0] for r in db_rows(
        "SELECT count(*) FROM contacts WHERE id = ANY(%s) GROUP BY xmin::text", (ids + other_ids,))]
    assert max(per_tx) <= BATCH, f"a transaction assigned {max(per_tx)} contacts (batch {BATCH})"
    assert len(per_tx) >= -(-total // BATCH)
