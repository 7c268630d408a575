"""Leads: GET /api/leads, GET /api/leads/{id}, and the atomic find-or-create of a lead.

A lead is created by POST /api/contacts with a new (normalised) email; every later contact with
the same email joins it, whatever its source. Tests use their own fresh emails and sources.
"""

import urllib.parse

import pytest
from helpers import CONTACT_KEYS, MISSING_ID, new_email, next_link, post, require_env, simultaneous

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

LEAD_KEYS = {"id", "email", "contacts"}


def check_lead(lead):
    assert isinstance(lead, dict) and set(lead) == LEAD_KEYS, lead
    assert type(lead["id"]) is int and lead["id"] > 0, lead
    assert isinstance(lead["email"], str) and lead["email"] == lead["email"].lower(), lead
    assert isinstance(lead["contacts"], list), lead
    ids = [c["id"] for c in lead["contacts"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), f"contacts not by id: {ids}"
    for c in lead["contacts"]:
        assert set(c) == CONTACT_KEYS, c
        assert c["lead_id"] == lead["id"], (lead["id"], c)
    return lead


# ---------------------------------------------------------------- GET /api/leads/{id}


def test_get_lead_with_contacts_by_id(api, assert_json, make_source, db_rows):
    s1, s2 = make_source(), make_source()
    email = new_email()
    made = [post(api, assert_json, s, email=email) for s in (s1["id"], s2["id"], s1["id"])]
    lead_id = made[0]["lead_id"]
    assert all(c["lead_id"] == lead_id for c in made)
    lead = check_lead(assert_json(api.get(f"/api/leads/{lead_id}"), 200))
    assert lead == {"id": lead_id, "email": email, "contacts": made}
    for c in lead["contacts"]:
        assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == c
    db_ids = [r[0] for r in db_rows("SELECT id FROM contacts WHERE lead_id = %s ORDER BY id",
                                    (lead_id,))]
    assert [c["id"] for c in lead["contacts"]] == db_ids


def test_lead_reused_across_sources(api, assert_json, make_source, make_operator, db_rows):
    """One email posted through three sources (one of them with an operator) is one lead."""
    srcs = [make_source() for _ in range(3)]
    op = make_operator(max_load_limit=10)
    resp = api.post(f"/api/sources/{srcs[1]['id']}/operators",
                    json={"operators": [{"operator_id": op["id"], "weight": 1}]})
    assert_json(resp, 200)
    email = new_email("reuse")
    variants = [email, " " + email.upper(), email.capitalize() + "  "]
    made = [post(api, assert_json, s["id"], email=v) for v, s in zip(variants, srcs)]
    assert len({c["lead_id"] for c in made}) == 1
    assert [c["source_id"] for c in made] == [s["id"] for s in srcs]
    assert [c["operator_id"] for c in made] == [None, op["id"], None]
    assert db_rows("SELECT count(*) FROM leads WHERE email = %s", (email,))[0][0] == 1
    lead = check_lead(assert_json(api.get(f"/api/leads/{made[0]['lead_id']}"), 200))
    assert lead["email"] == email
    assert lead["contacts"] == made


def test_lead_contacts_include_closed(api, assert_json, make_source, db_rows):
    src = make_source()
    email = new_email("closed")
    a = post(api, assert_json, src["id"], email=email)
    b = post(api, assert_json, src["id"], email=email)
    closed = assert_json(api.patch(f"/api/contacts/{a['id']}", json={"status": "closed"}), 200)
    assert (closed["status"], closed["operator_id"]) == ("closed", None)  # it was unassigned
    lead = check_lead(assert_json(api.get(f"/api/leads/{a['lead_id']}"), 200))
    assert [(c["id"], c["status"]) for c in lead["contacts"]] == [(a["id"], "closed"),
                                                                  (b["id"], "active")]


def test_lead_without_contacts_has_empty_list(api, assert_json, db_rows):
    """A lead row with no contacts (made behind the API's back) shows contacts: []."""
    email = new_email("bare")
    lead_id = db_rows("INSERT INTO leads (email) VALUES (%s) RETURNING id", (email,))[0][0]
    lead = check_lead(assert_json(api.get(f"/api/leads/{lead_id}"), 200))
    assert lead == {"id": lead_id, "email": email, "contacts": []}


@pytest.mark.parametrize("path", [f"/api/leads/{MISSING_ID}", "/api/leads/0", "/api/leads/abc",
                                  "/api/leads/-1", "/api/leads/1.0"])
def test_get_lead_404(api, assert_problem, path):
    assert_problem(api.get(path), 404)


# ---------------------------------------------------------------- GET /api/leads


def test_list_leads_sorted_with_contacts(api, assert_json, make_source):
    src = make_source()
    e1, e2 = new_email("l1"), new_email("l2")
    c1 = post(api, assert_json, src["id"], email=e1)
    c2 = post(api, assert_json, src["id"], email=e2)
    c3 = post(api, assert_json, src["id"], email=e1)
    resp = api.get("/api/leads")
    body = assert_json(resp, 200)
    assert "Link" not in resp.headers
    assert isinstance(body, list)
    ids = [lead["id"] for lead in body]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    by_id = {lead["id"]: lead for lead in body}
    assert by_id[c1["lead_id"]] == {"id": c1["lead_id"], "email": e1, "contacts": [c1, c3]}
    assert by_id[c2["lead_id"]] == {"id": c2["lead_id"], "email": e2, "contacts": [c2]}
    for lead in body[-50:]:
        check_lead(lead)


def walk_leads(api, assert_json, first_path):
    pages, path, seen = [], first_path, set()
    while path is not None:
        assert path not in seen, f"Link loops back to {path}"
        seen.add(path)
        resp = api.get(path)
        body = assert_json(resp, 200)
        for lead in body:
            check_lead(lead)
        pages.append(body)
        link = next_link(resp)
        if link is not None:
            parsed = urllib.parse.urlsplit(link)
            assert parsed.path == "/api/leads", link
            path = parsed.path + "?" + parsed.query
        else:
            path = None
        assert len(pages) < 10000
    return pages


@pytest.mark.parametrize("n,limit", [(5, 2), (4, 2), (3, 1)])
def test_leads_paging_follows_links(api, assert_json, make_source, db_rows, n, limit):
    src = make_source()
    made = [post(api, assert_json, src["id"], email=new_email("pg")) for _ in range(n)]
    lead_ids = [c["lead_id"] for c in made]
    start = lead_ids[0] - 1
    pages = walk_leads(api, assert_json, f"/api/leads?limit={limit}&after_id={start}")
    flat = [lead["id"] for page in pages for lead in page]
    # the walk goes to the end of the table: compare with the table itself
    expected = [r[0] for r in db_rows("SELECT id FROM leads WHERE id > %s ORDER BY id", (start,))]
    assert flat == expected
    assert flat[:n] == lead_ids
    for page in pages[:-1]:
        assert len(page) == limit
    assert len(pages[-1]) < limit  # the walk ends on a page that is not full (maybe empty)
    first = pages[0][0]
    assert first == {"id": lead_ids[0], "email": first["email"], "contacts": [made[0]]}


def test_leads_page_link_points_after_last(api, assert_json, make_source):
    src = make_source()
    made = [post(api, assert_json, src["id"], email=new_email("lk")) for _ in range(3)]
    start = made[0]["lead_id"] - 1
    resp = api.get("/api/leads", params={"limit": 2, "after_id": start})
    body = assert_json(resp, 200)
    assert [lead["id"] for lead in body] == [made[0]["lead_id"], made[1]["lead_id"]]
    link = next_link(resp)
    assert link is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["after_id"] == [str(made[1]["lead_id"])]
    assert query["limit"] == ["2"]


def test_leads_after_id_without_limit_is_rest(api, assert_json, make_source, db_rows):
    src = make_source()
    made = [post(api, assert_json, src["id"], email=new_email("rest")) for _ in range(2)]
    resp = api.get("/api/leads", params={"after_id": made[0]["lead_id"]})
    body = assert_json(resp, 200)
    assert "Link" not in resp.headers
    expected = [r[0] for r in db_rows("SELECT id FROM leads WHERE id > %s ORDER BY id",
                                      (made[0]["lead_id"],))]
    assert [lead["id"] for lead in body] == expected
    assert body[0]["id"] == made[1]["lead_id"]


BAD_QUERIES = [("limit", "0"), ("limit", "1001"), ("limit", "x"), ("limit", "2.5"),
               ("limit", ""), ("after_id", "x"), ("after_id", "1.5"), ("after_id", "")]


@pytest.mark.parametrize("param,value", BAD_QUERIES, ids=[f"{p}={v}" for p, v in BAD_QUERIES])
def test_leads_bad_query_422(api, assert_problem, param, value):
    resp = api.get("/api/leads?" + urllib.parse.urlencode({param: value}))
    assert_problem(resp, 422, {param})


# ---------------------------------------------------------------- atomic find-or-create

N_PARALLEL = 20


@pytest.mark.parametrize("round_", range(4))
def test_simultaneous_same_new_email_one_lead(api, base_url, make_source, make_operator, db_rows,
                                              round_):
    src = make_source()
    if round_ % 2:
        # with an operator configured the same requests also contend for its counter
        op = make_operator(max_load_limit=7)
        api.post(f"/api/sources/{src['id']}/operators",
                 json={"operators": [{"operator_id": op["id"], "weight": 1}]}).raise_for_status()
    email = new_email("race")
    # every connection is opened first, so the requests leave as close together as possible
    post = ("POST", "/api/contacts", {"email": email, "source_id": src["id"]})
    responses = simultaneous(base_url, [post] * N_PARALLEL, warm_path=f"/api/sources/{src['id']}")
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * N_PARALLEL, [r.text[:200] for r in responses if r.status_code != 201]
    bodies = [r.json() for r in responses]
    lead_ids = {b["lead_id"] for b in bodies}
    assert len(lead_ids) == 1, f"{len(lead_ids)} leads for one email: {lead_ids}"
    assert len({b["id"] for b in bodies}) == N_PARALLEL
    assert db_rows("SELECT count(*) FROM leads WHERE email = %s", (email,))[0][0] == 1
    lead_id = lead_ids.pop()
    assert db_rows("SELECT count(*) FROM contacts WHERE lead_id = %s", (lead_id,))[0][0] == N_PARALLEL
    if round_ % 2:
        assigned = [b for b in bodies if b["operator_id"] is not None]
        assert len(assigned) == 7
        real = db_rows("SELECT count(*) FROM contacts WHERE operator_id = %s AND status = 'active'",
                       (op["id"],))[0][0]
        assert real == 7
        assert api.get(f"/api/operators/{op['id']}").json()["active_contacts"] == 7


def test_simultaneous_spellings_one_lead(api, base_url, make_source, db_rows):
    """Different spellings of one new address at the same moment still make one lead."""
    src = make_source()
    email = new_email("spell")
    spellings = [email, email.upper(), "  " + email, email.capitalize() + " "]
    responses = simultaneous(base_url, [
        ("POST", "/api/contacts",
         {"email": spellings[i % len(spellings)], "source_id": src["id"]})
        for i in range(N_PARALLEL)])
    assert [r.status_code for r in responses] == [201] * N_PARALLEL
    assert len({r.json()["lead_id"] for r in responses}) == 1
    assert db_rows("SELECT count(*) FROM leads WHERE lower(email) = %s", (email,))[0][0] == 1
    lead = api.get(f"/api/leads/{responses[0].json()['lead_id']}").json()
    assert lead["email"] == email
    assert sorted(r.json()["id"] for r in responses) == [c["id"] for c in lead["contacts"]]
