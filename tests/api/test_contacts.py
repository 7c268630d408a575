"""Contacts: POST /api/contacts, GET /api/contacts (filters, keyset paging), GET /api/contacts/{id}.

Every test creates its own sources/operators/emails and filters by its own ids, so other
tests' rows never interfere. The distribution itself is covered by test_distribution.py,
the lead side (GET /api/leads, concurrent lead creation) by test_leads.py.
"""

import datetime
import urllib.parse
import uuid

import pytest
from helpers import (CONTACT_KEYS, MISSING_ID, configure, new_email, next_link, parse_time, post,
                     real_load, require_env)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


# ---------------------------------------------------------------- local helpers


def check_contact(c, **expected):
    """Shape of a contact object, plus the expected values given."""
    assert isinstance(c, dict) and set(c) == CONTACT_KEYS, c
    assert type(c["id"]) is int and c["id"] > 0, c
    assert type(c["lead_id"]) is int and c["lead_id"] > 0, c
    assert type(c["source_id"]) is int, c
    assert c["operator_id"] is None or type(c["operator_id"]) is int, c
    assert c["status"] in ("active", "closed"), c
    parse_time(c["created_at"])
    for key, value in expected.items():
        assert c[key] == value, f"{key}: {c[key]!r} != {value!r} in {c}"
    return c


def post_contact(api, assert_json, email, source_id, **expected):
    """post() with this email, and the whole shape of the answer checked."""
    body = post(api, assert_json, source_id, email=email)
    return check_contact(body, source_id=source_id, status="active", **expected)


def db_contact(db_rows, cid):
    rows = db_rows(
        "SELECT id, lead_id, source_id, operator_id, status FROM contacts WHERE id = %s", (cid,)
    )
    return dict(zip(("id", "lead_id", "source_id", "operator_id", "status"), rows[0])) if rows else None


def list_ids(api, assert_json, query):
    body = assert_json(api.get("/api/contacts", params=query), 200)
    assert isinstance(body, list), body
    for c in body:
        check_contact(c)
    return [c["id"] for c in body]


def stored_counts(db_count):
    return db_count("contacts"), db_count("leads")


def assert_nothing_stored(db_count, db_rows, before, email=None):
    assert stored_counts(db_count) == before
    if isinstance(email, str) and "\x00" not in email:  # libpq cannot send NUL
        norm = email.strip().lower()
        assert db_rows("SELECT count(*) FROM leads WHERE email = %s", (norm,))[0][0] == 0


# ---------------------------------------------------------------- POST /api/contacts


def test_create_contact_unassigned(api, assert_json, make_source, db_rows):
    src = make_source()
    email = new_email()
    before = datetime.datetime.now(datetime.timezone.utc)
    c = post_contact(api, assert_json, email, src["id"], operator_id=None)
    after = datetime.datetime.now(datetime.timezone.utc)
    created = parse_time(c["created_at"])
    # server and test run on one host; allow clock granularity / skew of a few seconds
    assert before - datetime.timedelta(seconds=5) <= created <= after + datetime.timedelta(seconds=5)
    assert db_contact(db_rows, c["id"]) == {
        "id": c["id"], "lead_id": c["lead_id"], "source_id": src["id"],
        "operator_id": None, "status": "active",
    }
    assert db_rows("SELECT email FROM leads WHERE id = %s", (c["lead_id"],)) == [(email,)]


def test_create_contact_assigned_to_only_operator(api, assert_json, source_with_operator, db_rows):
    src, op = source_with_operator(max_load_limit=5)
    c = post_contact(api, assert_json, new_email(), src["id"], operator_id=op["id"])
    assert db_contact(db_rows, c["id"])["operator_id"] == op["id"]
    got = assert_json(api.get(f"/api/operators/{op['id']}"), 200)
    assert got["active_contacts"] == 1 == real_load(db_rows, op["id"])


def test_get_contact_by_id(api, assert_json, make_source):
    src = make_source()
    c = post_contact(api, assert_json, new_email(), src["id"])
    assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == c


@pytest.mark.parametrize("path", [f"/api/contacts/{MISSING_ID}", "/api/contacts/0",
                                  "/api/contacts/abc", "/api/contacts/-1", "/api/contacts/1.5"])
def test_get_contact_404(api, assert_problem, path):
    assert_problem(api.get(path), 404)


def test_email_trimmed_and_lowercased_one_lead(api, assert_json, make_source, db_rows):
    src = make_source()
    local = "Ann." + uuid.uuid4().hex
    first = post_contact(api, assert_json, f"  {local}@X.Example.COM ", src["id"])
    second = post_contact(api, assert_json, f"{local.lower()}@x.example.com", src["id"],
                          lead_id=first["lead_id"])
    third = post_contact(api, assert_json, f"{local.upper()}@X.EXAMPLE.COM", src["id"],
                         lead_id=first["lead_id"])
    norm = f"{local.lower()}@x.example.com"
    assert db_rows("SELECT id FROM leads WHERE lower(email) = %s", (norm,)) == [(first["lead_id"],)]
    assert db_rows("SELECT email FROM leads WHERE id = %s", (first["lead_id"],)) == [(norm,)]
    lead = assert_json(api.get(f"/api/leads/{first['lead_id']}"), 200)
    assert lead["email"] == norm
    assert [c["id"] for c in lead["contacts"]] == [first["id"], second["id"], third["id"]]


def test_different_emails_different_leads(api, assert_json, make_source):
    src = make_source()
    tag = uuid.uuid4().hex
    a = post_contact(api, assert_json, f"a{tag}@example.com", src["id"])
    b = post_contact(api, assert_json, f"b{tag}@example.com", src["id"])
    c = post_contact(api, assert_json, f"a{tag}@example.org", src["id"])
    assert len({a["lead_id"], b["lead_id"], c["lead_id"]}) == 3


def test_lead_reused_across_sources(api, assert_json, make_source, db_rows):
    s1, s2, s3 = make_source(), make_source(), make_source()
    email = new_email("multi")
    c1 = post_contact(api, assert_json, email, s1["id"])
    c2 = post_contact(api, assert_json, email.upper(), s2["id"], lead_id=c1["lead_id"])
    c3 = post_contact(api, assert_json, " " + email, s3["id"], lead_id=c1["lead_id"])
    c4 = post_contact(api, assert_json, email, s1["id"], lead_id=c1["lead_id"])
    assert len({c1["id"], c2["id"], c3["id"], c4["id"]}) == 4
    assert db_rows("SELECT count(*) FROM leads WHERE email = %s", (email,))[0][0] == 1
    lead = assert_json(api.get(f"/api/leads/{c1['lead_id']}"), 200)
    assert lead["contacts"] == [c1, c2, c3, c4]


def sized_email(length):
    """A unique lower-case address of exactly `length` characters (length >= 40).

    The local part stays at 32 characters and the domain is made of labels of at most 60
    characters, so only the total length is at the limit, nothing else.
    """
    local = uuid.uuid4().hex
    domain = "io"
    while len(local) + 1 + len(domain) < length:
        room = length - len(local) - 1 - len(domain)  # characters still to add
        if room == 1:
            domain = "d" + domain  # lengthen the first label
        else:
            domain = "d" * min(60, room - 1) + "." + domain
    email = f"{local}@{domain}"
    assert len(email) == length, (len(email), length)
    return email


@pytest.mark.parametrize("length", [40, 100, 253, 254])
def test_email_length_ok(api, assert_json, make_source, length):
    src = make_source()
    email = sized_email(length)
    c = post_contact(api, assert_json, email, src["id"])
    assert assert_json(api.get(f"/api/leads/{c['lead_id']}"), 200)["email"] == email


def test_short_email_ok(api, assert_json, make_source):
    src = make_source()
    c = post_contact(api, assert_json, "A@B.CO", src["id"])
    assert assert_json(api.get(f"/api/leads/{c['lead_id']}"), 200)["email"] == "a@b.co"


def test_email_254_after_trim_ok(api, assert_json, make_source):
    src = make_source()
    email = sized_email(254)
    c = post_contact(api, assert_json, "  " + email.upper() + "  ", src["id"])
    assert assert_json(api.get(f"/api/leads/{c['lead_id']}"), 200)["email"] == email


@pytest.mark.parametrize("kind", ["local_part_65", "local_part_100"])
def test_contract_accepts_long_local_part(api, assert_json, make_source, kind):
    """The contract's email rules have no 64-character limit on the local part:
    one @, non-empty parts, a dot inside the domain, no spaces/control chars, <= 254."""
    src = make_source()
    n = int(kind.rsplit("_", 1)[1])
    email = (uuid.uuid4().hex * 4)[:n] + "@example.com"
    c = post_contact(api, assert_json, email, src["id"])
    assert assert_json(api.get(f"/api/leads/{c['lead_id']}"), 200)["email"] == email


def _long_email(n):
    return sized_email(n)


BAD_EMAILS = [
    "",
    "   ",
    "plainaddress",
    "ann.example.com",
    "ann@",
    "@example.com",
    "ann@@example.com",
    "ann@b@example.com",
    "ann@example",
    "ann@.com",
    "ann@example.",
    "ann smith@example.com",
    "ann@exa mple.com",
    "ann\t@example.com",
    "ann@example.com\x00x",
    "an\x01n@example.com",
    "ann\n@example.com",
    "ann@exam\x7fple.com",
]


@pytest.mark.parametrize("email", BAD_EMAILS + ["LONG255", "LONG300"],
                         ids=lambda e: repr(e)[:30])
def test_bad_email_422_nothing_stored(api, assert_problem, make_source, db_count, db_rows, email):
    src = make_source()
    if email.startswith("LONG"):
        email = _long_email(int(email[4:]))
    else:
        email = email.replace("ann", "ann" + uuid.uuid4().hex[:12])
    before = stored_counts(db_count)
    body = assert_problem(api.post("/api/contacts", json={"email": email, "source_id": src["id"]}),
                          422, {"email"})
    assert body["errors"][0]["field"] == "email"
    assert_nothing_stored(db_count, db_rows, before, email)
    assert db_rows("SELECT count(*) FROM contacts WHERE source_id = %s", (src["id"],))[0][0] == 0


@pytest.mark.parametrize("email", [None, 5, True, ["a@example.com"], {"e": "a@example.com"},
                                   "MISSING"], ids=repr)
def test_email_wrong_type_422(api, assert_problem, make_source, db_count, email):
    src = make_source()
    body = {"source_id": src["id"]}
    if email != "MISSING":
        body["email"] = email
    before = stored_counts(db_count)
    problem = assert_problem(api.post("/api/contacts", json=body), 422, {"email"})
    assert problem["errors"][0]["field"] == "email"
    assert stored_counts(db_count) == before


@pytest.mark.parametrize("raw", ['"SID"', "SID.5", "SID.0", "null", "true", "[SID]",
                                 '{"id":SID}', "1e2", "MISSING"])
def test_bad_source_id_type_422_nothing_stored(api, assert_problem, make_source, db_count, db_rows,
                                               raw):
    src = make_source()
    email = new_email("badsrc")
    if raw == "MISSING":
        text = '{"email":"%s"}' % email
    else:
        text = '{"email":"%s","source_id":%s}' % (email, raw.replace("SID", str(src["id"])))
    before = stored_counts(db_count)
    assert_problem(api.post_raw("/api/contacts", text), 422, {"source_id"})
    assert_nothing_stored(db_count, db_rows, before, email)


@pytest.mark.parametrize("source_id", [MISSING_ID, "BEYOND_MAX"])
def test_unknown_source_404_no_lead(api, assert_problem, db_count, db_rows, source_id):
    if source_id == "BEYOND_MAX":
        source_id = db_rows("SELECT coalesce(max(id), 0) + 1000000 FROM sources")[0][0]
    email = new_email("nosrc")
    before = stored_counts(db_count)
    assert_problem(api.post("/api/contacts", json={"email": email, "source_id": source_id}), 404)
    assert_nothing_stored(db_count, db_rows, before, email)


def test_unknown_source_404_existing_lead_untouched(api, assert_json, assert_problem, make_source,
                                                    db_count, db_rows):
    src = make_source()
    email = new_email("known")
    c = post_contact(api, assert_json, email, src["id"])
    before = stored_counts(db_count)
    assert_problem(api.post("/api/contacts", json={"email": email, "source_id": MISSING_ID}), 404)
    assert stored_counts(db_count) == before
    lead = assert_json(api.get(f"/api/leads/{c['lead_id']}"), 200)
    assert lead["contacts"] == [c]


def test_unknown_fields_ignored(api, assert_json, make_source):
    src = make_source()
    resp = api.post("/api/contacts", json={"email": new_email(), "source_id": src["id"],
                                           "operator_id": 1, "status": "closed", "id": 5,
                                           "extra": {"x": [1]}})
    body = assert_json(resp, 201)
    check_contact(body, source_id=src["id"], status="active", operator_id=None)


def test_charset_content_type_accepted(api, assert_json, make_source):
    src = make_source()
    text = '{"email":"%s","source_id":%d}' % (new_email(), src["id"])
    body = assert_json(api.post_raw("/api/contacts", text, "application/json; charset=utf-8"), 201)
    check_contact(body, source_id=src["id"])


@pytest.mark.parametrize("text", ['{"email":"EMAIL","source_id":SID', "{", "", "not json",
                                  '{"email":"EMAIL","source_id":SID}}', "{'email':'EMAIL'}",
                                  '{"email":"EMAIL","source_id":NaN}',
                                  '{"email":"EMAIL","source_id":Infinity}',
                                  '{"email":"EMAIL\x01","source_id":SID}',
                                  '{"email":"EMAIL","source_id":SID,}'],
                         ids=repr)
def test_malformed_json_400_nothing_stored(api, assert_problem, make_source, db_count, db_rows,
                                           text):
    src = make_source()
    email = new_email("malformed")
    before = stored_counts(db_count)
    text = text.replace("EMAIL", email).replace("SID", str(src["id"]))
    assert_problem(api.post_raw("/api/contacts", text), 400)
    assert_nothing_stored(db_count, db_rows, before, email)


@pytest.mark.parametrize("text", ["[]", '["EMAIL"]', '"EMAIL"', "5", "null", "true"])
def test_top_level_not_object_422(api, assert_problem, db_count, db_rows, text):
    email = new_email("toplevel")
    before = stored_counts(db_count)
    assert_problem(api.post_raw("/api/contacts", text.replace("EMAIL", email)), 422)
    assert_nothing_stored(db_count, db_rows, before, email)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None,
                                   "application/xml"])
def test_wrong_content_type_415_nothing_stored(api, assert_problem, make_source, db_count, db_rows,
                                               ctype):
    src = make_source()
    email = new_email("ctype")
    before = stored_counts(db_count)
    text = '{"email":"%s","source_id":%d}' % (email, src["id"])
    assert_problem(api.post_raw("/api/contacts", text, ctype), 415)
    assert_nothing_stored(db_count, db_rows, before, email)


def test_oversized_body_413_nothing_stored(api, assert_problem, make_source, db_count, db_rows):
    src = make_source()
    email = new_email("big")
    before = stored_counts(db_count)
    text = '{"pad":"%s","email":"%s","source_id":%d}' % ("p" * (2 * 1024 * 1024), email, src["id"])
    assert_problem(api.post_raw("/api/contacts", text), 413)
    assert_nothing_stored(db_count, db_rows, before, email)


# ---------------------------------------------------------------- GET /api/contacts filters


@pytest.fixture
def dataset(api, assert_json, make_source, make_operator, db_rows):
    """Two sources, two operators, two leads and six contacts with known attributes.

    source A: configured with op1 (limit 2) -> a1, a2 go to op1, a3 stays unassigned
    source B: no operators                  -> b1 (lead 1), b2 (lead 2), b3 (lead 2, closed)
    op2 is configured nowhere and has no contacts.
    """
    sa, sb = make_source(), make_source()
    op1 = make_operator(max_load_limit=2)
    op2 = make_operator(max_load_limit=100)
    configure(api, assert_json, sa["id"], [(op1["id"], 5)])
    e1, e2 = new_email("l1"), new_email("l2")
    a1 = post_contact(api, assert_json, e1, sa["id"], operator_id=op1["id"])
    a2 = post_contact(api, assert_json, e1, sa["id"], operator_id=op1["id"], lead_id=a1["lead_id"])
    a3 = post_contact(api, assert_json, e1, sa["id"], operator_id=None, lead_id=a1["lead_id"])
    b1 = post_contact(api, assert_json, e1, sb["id"], operator_id=None, lead_id=a1["lead_id"])
    b2 = post_contact(api, assert_json, e2, sb["id"], operator_id=None)
    b3 = post_contact(api, assert_json, e2, sb["id"], operator_id=None, lead_id=b2["lead_id"])
    closed = assert_json(api.patch(f"/api/contacts/{b3['id']}", json={"status": "closed"}), 200)
    assert (closed["id"], closed["status"], closed["operator_id"]) == (b3["id"], "closed", None)
    return dict(sa=sa["id"], sb=sb["id"], op1=op1["id"], op2=op2["id"],
                l1=a1["lead_id"], l2=b2["lead_id"],
                a1=a1["id"], a2=a2["id"], a3=a3["id"], b1=b1["id"], b2=b2["id"], b3=b3["id"])


FILTER_CASES = [
    ({"source_id": "sa"}, ["a1", "a2", "a3"]),
    ({"source_id": "sb"}, ["b1", "b2", "b3"]),
    ({"operator_id": "op1"}, ["a1", "a2"]),
    ({"operator_id": "op2"}, []),
    ({"lead_id": "l1"}, ["a1", "a2", "a3", "b1"]),
    ({"lead_id": "l2"}, ["b2", "b3"]),
    ({"source_id": "sb", "status": "active"}, ["b1", "b2"]),
    ({"source_id": "sb", "status": "closed"}, ["b3"]),
    ({"source_id": "sa", "status": "closed"}, []),
    ({"lead_id": "l2", "status": "closed"}, ["b3"]),
    ({"source_id": "sa", "unassigned": "true"}, ["a3"]),
    ({"source_id": "sa", "unassigned": "false"}, ["a1", "a2"]),
    ({"lead_id": "l1", "unassigned": "true"}, ["a3", "b1"]),
    ({"source_id": "sb", "unassigned": "true", "status": "active"}, ["b1", "b2"]),
    ({"lead_id": "l1", "source_id": "sb"}, ["b1"]),
    ({"lead_id": "l1", "source_id": "sa", "operator_id": "op1"}, ["a1", "a2"]),
    ({"lead_id": "l2", "operator_id": "op1"}, []),
    ({"operator_id": "op1", "unassigned": "true"}, []),
    ({"source_id": "sa", "after_id": "a1"}, ["a2", "a3"]),
    ({"lead_id": "l1", "after_id": "a3"}, ["b1"]),
    ({"lead_id": "l1", "after_id": "b1"}, []),
]


@pytest.mark.parametrize("query,expected", FILTER_CASES,
                         ids=["&".join(f"{k}={v}" for k, v in q.items()) for q, _ in FILTER_CASES])
def test_filter_returns_exactly_matching(api, assert_json, dataset, query, expected):
    params = {k: str(dataset.get(v, v)) for k, v in query.items()}
    assert list_ids(api, assert_json, params) == [dataset[name] for name in expected]


def test_filter_contacts_match_get_by_id(api, assert_json, dataset):
    body = assert_json(api.get("/api/contacts", params={"lead_id": dataset["l1"]}), 200)
    for c in body:
        assert assert_json(api.get(f"/api/contacts/{c['id']}"), 200) == c
    by_id = {c["id"]: c for c in body}
    assert by_id[dataset["a1"]]["operator_id"] == dataset["op1"]
    assert by_id[dataset["a3"]]["operator_id"] is None
    assert all(c["status"] == "active" for c in body)
    closed = assert_json(api.get(f"/api/contacts/{dataset['b3']}"), 200)
    assert closed["status"] == "closed"


def test_filter_unknown_ids_empty(api, assert_json):
    for key in ("source_id", "operator_id", "lead_id"):
        assert list_ids(api, assert_json, {key: str(MISSING_ID)}) == []


def test_whole_list_sorted_and_contains_own(api, assert_json, dataset):
    ids = list_ids(api, assert_json, {})
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    mine = [dataset[k] for k in ("a1", "a2", "a3", "b1", "b2", "b3")]
    assert set(mine) <= set(ids)


BAD_QUERIES = [
    ("limit", "0"), ("limit", "1001"), ("limit", "-1"), ("limit", "abc"), ("limit", "1.5"),
    ("limit", ""), ("limit", "1e2"), ("limit", "99999999999999999999999"),
    ("after_id", "abc"), ("after_id", "1.5"), ("after_id", ""),
    ("source_id", "abc"), ("source_id", "1.5"), ("source_id", ""), ("source_id", "1x"),
    ("operator_id", "x"), ("operator_id", "2.0"), ("lead_id", "x"), ("lead_id", "true"),
    ("status", "open"), ("status", ""), ("status", "all"), ("status", "1"),
    ("unassigned", "1"), ("unassigned", "yes"), ("unassigned", ""), ("unassigned", "maybe"),
]


@pytest.mark.parametrize("param,value", BAD_QUERIES, ids=[f"{p}={v}" for p, v in BAD_QUERIES])
def test_bad_query_value_422(api, assert_problem, param, value):
    resp = api.get("/api/contacts?" + urllib.parse.urlencode({param: value}))
    assert_problem(resp, 422, {param})


def test_several_bad_query_values_all_named(api, assert_problem):
    resp = api.get("/api/contacts?limit=0&status=x&unassigned=1&source_id=a")
    assert_problem(resp, 422, {"limit", "status", "unassigned", "source_id"})


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limit_bounds_ok(api, assert_json, make_source, limit):
    src = make_source()
    c = post_contact(api, assert_json, new_email(), src["id"])
    resp = api.get("/api/contacts", params={"source_id": src["id"], "limit": limit})
    assert [x["id"] for x in assert_json(resp, 200)] == [c["id"]]
    if limit == "1":
        assert next_link(resp) is not None  # a full page
    else:
        assert "Link" not in resp.headers


# ---------------------------------------------------------------- keyset paging


def follow(api, assert_json, first_path):
    """Follow rel=next links from first_path; return (pages of ids, link count)."""
    pages, path, seen = [], first_path, set()
    while path is not None:
        assert path not in seen, f"Link loops back to {path}"
        seen.add(path)
        resp = api.get(path if path.startswith("/") else path)
        body = assert_json(resp, 200)
        pages.append([c["id"] for c in body])
        link = next_link(resp)
        if link is not None:
            parsed = urllib.parse.urlsplit(link)
            assert parsed.path == "/api/contacts", link
            path = parsed.path + ("?" + parsed.query if parsed.query else "")
        else:
            path = None
        assert len(pages) < 10000
    return pages


@pytest.mark.parametrize("n,limit", [(7, 3), (6, 3), (1, 1), (2, 5), (5, 1)])
def test_paging_visits_every_contact_once(api, assert_json, make_source, n, limit):
    src = make_source()
    other = make_source()
    email = new_email("page")
    mine = []
    for i in range(n):
        mine.append(post_contact(api, assert_json, email, src["id"])["id"])
        post_contact(api, assert_json, email, other["id"])  # interleaved, must be filtered out
    pages = follow(api, assert_json, f"/api/contacts?source_id={src['id']}&limit={limit}")
    flat = [cid for page in pages for cid in page]
    assert flat == mine
    # every page but the last is full; the last is not full unless n is a multiple of limit,
    # in which case one more empty page ends the walk
    for page in pages[:-1]:
        assert len(page) == limit
    if n % limit == 0:
        assert pages[-1] == []
    else:
        assert len(pages[-1]) == n % limit


def test_link_keeps_filters_and_points_after_last(api, assert_json, make_source):
    src = make_source()
    email = new_email("link")
    ids = [post_contact(api, assert_json, email, src["id"])["id"] for _ in range(3)]
    resp = api.get("/api/contacts", params={"source_id": src["id"], "status": "active",
                                            "unassigned": "true", "limit": 2})
    assert [c["id"] for c in assert_json(resp, 200)] == ids[:2]
    link = next_link(resp)
    assert link is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["after_id"] == [str(ids[1])]
    assert query["limit"] == ["2"]
    assert query["source_id"] == [str(src["id"])]
    assert query["status"] == ["active"]
    assert query["unassigned"] == ["true"]
    resp2 = api.get(link)
    assert [c["id"] for c in assert_json(resp2, 200)] == ids[2:]
    assert "Link" not in resp2.headers


def test_no_limit_means_whole_list_without_link(api, assert_json, make_source):
    src = make_source()
    email = new_email("nolimit")
    ids = [post_contact(api, assert_json, email, src["id"])["id"] for _ in range(4)]
    resp = api.get("/api/contacts", params={"source_id": src["id"]})
    assert [c["id"] for c in assert_json(resp, 200)] == ids
    assert "Link" not in resp.headers
    resp = api.get("/api/contacts", params={"source_id": src["id"], "after_id": ids[0]})
    assert [c["id"] for c in assert_json(resp, 200)] == ids[1:]
    assert "Link" not in resp.headers


def test_paging_whole_table_matches_full_list(api, assert_json, make_source):
    src = make_source()
    post_contact(api, assert_json, new_email("whole"), src["id"])
    full = list_ids(api, assert_json, {})
    pages = follow(api, assert_json, "/api/contacts?limit=1000")
    flat = [cid for page in pages for cid in page]
    assert flat == full
