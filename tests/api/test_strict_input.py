"""Strict and canonical input.

What is almost JSON is 400 and stores nothing: each case was once accepted by json-c (or
slipped past the old pre-scan) and changed data: single-quoted names, duplicate names, NUL in
a name, invalid UTF-8, lone surrogate escapes.
Emails have one normal form in any script: NFC, Unicode lower case, Unicode white space
trimmed, invisible characters refused, an IDN domain as its A-label.
"""

import http.client
import json
import urllib.parse
import uuid

import pytest
import requests
from helpers import check_json, check_problem, configure, require_env, unique

require_env("CRM_TEST_URL", "CRM_TEST_DSN")


def config_of(api, source_id):
    return check_json(api.get(f"/api/sources/{source_id}/operators"), 200)


def operator_of(api, op_id):
    return check_json(api.get(f"/api/operators/{op_id}"), 200)


# ---------------------------------------------------------------- the cases of the issue

def test_single_quoted_configuration_is_400_and_keeps_the_configuration(
        api, make_source, make_operator):
    src, a, b = make_source(), make_operator(), make_operator()
    configure(api, check_json, src["id"], [(a["id"], 3)])
    before = config_of(api, src["id"])
    body = "{'operators':[{'operator_id':%d,'weight':7}]}" % b["id"]
    check_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body), 400)
    body = '{\'operators\':[{"operator_id":%d,"weight":7}]}' % b["id"]
    check_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body), 400)
    assert config_of(api, src["id"]) == before


def test_single_quoted_patch_is_400(api, make_operator):
    op = make_operator()
    check_problem(api.patch_raw(f"/api/operators/{op['id']}", "{'is_active':false}"), 400)
    check_problem(api.patch_raw(f"/api/operators/{op['id']}", '{"is_active":\'false\'}'), 400)
    assert operator_of(api, op["id"]) == op


def test_quote_named_member_does_not_let_control_bytes_in(api, db_count):
    # the old pre-scan took the '"' inside single quotes for the start of a string, so the
    # raw control bytes of the real name looked "outside" any string to it
    name = unique("ctl")
    before = db_count("operators")
    for raw in ("\x01", "\x1f", "\t", "\n", "\x00"):
        body = "{'\"':1,\"name\":\"%s%sx\",\"max_load_limit\":1}" % (name, raw)
        check_problem(api.post_raw("/api/operators", body), 400)
        body = '{"name":"%s%sx","max_load_limit":1}' % (name, raw)
        check_problem(api.post_raw("/api/operators", body), 400)
    assert db_count("operators") == before
    assert db_count("operators", "name LIKE %s", (name + "%",)) == 0


@pytest.mark.parametrize("template", [
    '{"name":"%s-a","name":"%s-b","max_load_limit":5}',
    '{"name":"%s-a","n\\u0061me":"%s-b","max_load_limit":5}',  # the same name once decoded
    '{"name":"%s","max_load_limit":5,"max_load_limit":6}',
    '{"name":"%s","max_load_limit":5,"x":{"y":1,"y":2}}',  # in a member nobody reads
])
def test_duplicate_member_names_are_400(api, db_count, template):
    name = unique("dup")
    before = db_count("operators")
    check_problem(api.post_raw("/api/operators", template.replace("%s", name)), 400)
    assert db_count("operators") == before
    assert db_count("operators", "name LIKE %s", (name + "%",)) == 0


def test_duplicate_names_in_patch_and_nested_objects_are_400(api, make_source, make_operator):
    op = make_operator(max_load_limit=5)
    check_problem(api.patch_raw(f"/api/operators/{op['id']}",
                                '{"max_load_limit":6,"max_load_limit":7}'), 400)
    src = make_source()
    configure(api, check_json, src["id"], [(op["id"], 2)])
    before = config_of(api, src["id"])
    body = '{"operators":[{"operator_id":%d,"weight":3,"weight":4}]}' % op["id"]
    check_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body), 400)
    body = '{"operators":[],"operators":[{"operator_id":%d,"weight":3}]}' % op["id"]
    check_problem(api.post_raw(f"/api/sources/{src['id']}/operators", body), 400)
    assert config_of(api, src["id"]) == before
    assert operator_of(api, op["id"]) == op


def test_nul_in_member_name_is_400(api, make_operator):
    op = make_operator(max_load_limit=5)
    resp = api.patch_raw(f"/api/operators/{op['id']}", '{"max_load_limit\\u0000x":9}')
    check_problem(resp, 400)
    resp = api.patch_raw(f"/api/operators/{op['id']}", '{"max_load_limit\\u0000":9}')
    check_problem(resp, 400)
    assert operator_of(api, op["id"])["max_load_limit"] == 5


def test_nul_in_a_value_stays_422(api, assert_problem):
    # a NUL inside a string value is valid JSON; the field rule refuses it by name
    resp = api.post_raw("/api/operators", '{"name":"a\\u0000b","max_load_limit":1}')
    assert_problem(resp, 422, fields=["name"])


# ---------------------------------------------------------------- encodings

INVALID_UTF8 = {
    "overlong C0 AF": b"\xc0\xaf",
    "overlong E0 80 AF": b"\xe0\x80\xaf",
    "CESU-8 surrogate pair": b"\xed\xa0\xbd\xed\xb8\x80",
    "encoded lone surrogate": b"\xed\xa0\x80",
    "past U+10FFFF": b"\xf4\x90\x80\x80",
    "F5 lead byte": b"\xf5\x80\x80\x80",
    "lone continuation byte": b"\x80",
    "truncated sequence": b"\xc3",
    "truncated 4-byte sequence": b"\xf0\x9f\x98",
    "latin-1": b"\xe9",
}


@pytest.mark.parametrize("label", sorted(INVALID_UTF8))
def test_invalid_utf8_is_400(api, db_count, label):
    name = unique("utf")
    before = db_count("sources")
    body = b'{"name":"' + name.encode() + INVALID_UTF8[label] + b'"}'
    check_problem(api.post_raw("/api/sources", body), 400)
    body = b'{"name":"' + name.encode() + b'","x' + INVALID_UTF8[label] + b'":1}'
    check_problem(api.post_raw("/api/sources", body), 400)
    assert db_count("sources") == before
    assert db_count("sources", "name LIKE %s", (name + "%",)) == 0


@pytest.mark.parametrize("escape", [
    "\\ud800", "\\udc00", "\\udfff", "\\ud800x", "\\ud800\\u0041", "\\udbff\\udbff", "\\ude00\\ud83d",
])
def test_lone_surrogate_escape_is_400(api, db_count, escape):
    name = unique("sur")
    before = db_count("sources")
    check_problem(api.post_raw("/api/sources", '{"name":"%s%s"}' % (name, escape)), 400)
    assert db_count("sources") == before
    assert db_count("sources", "name LIKE %s", (name + "%",)) == 0


def test_surrogate_pairs_and_raw_utf8_are_stored_exactly(api, db_rows):
    name = unique("pair")
    created = check_json(api.post_raw("/api/sources", '{"name":"%s \\ud83d\\ude00 \\u00e9"}' % name), 201)
    assert created["name"] == name + " \U0001F600 \u00e9"
    created = check_json(api.post_raw("/api/sources", ('{"name":"%s \U0001F600"}' % name).encode()), 201)
    assert created["name"] == name + " \U0001F600"
    assert db_rows("SELECT name FROM sources WHERE id = %s", (created["id"],))[0][0] == name + " \U0001F600"


# ---------------------------------------------------------------- what json-c tolerates

NOT_JSON = [
    '{"name":"%s","max_load_limit":1,}',
    '{"name":"%s","max_load_limit":1 /* comment */}',
    '{"name":"%s","max_load_limit":1} // comment',
    '{"name":"%s","max_load_limit":01}',
    '{"name":"%s","max_load_limit":0x1}',
    '{"name":"%s","max_load_limit":+1}',
    '{"name":"%s","max_load_limit":1,"x":NaN}',
    '{"name":"%s","max_load_limit":1,"x":Infinity}',
    '{"name":"%s","max_load_limit":1,"x":[1,]}',
    '{"name":"%s","max_load_limit":1,"x":True}',
    '{"name":"%s","max_load_limit":1,"x":undefined}',
    '{name:"%s","max_load_limit":1}',
    '{"name":"%s","max_load_limit":1,"x":"\\x41"}',
    '{"name":"%s","max_load_limit":1}\f',
    '\ufeff{"name":"%s","max_load_limit":1}',
]


@pytest.mark.parametrize("template", NOT_JSON)
def test_what_json_c_tolerates_is_400(api, db_count, template):
    name = unique("lax")
    before = db_count("operators")
    check_problem(api.post_raw("/api/operators", template % name), 400)
    assert db_count("operators") == before
    assert db_count("operators", "name = %s", (name,)) == 0


def test_strict_json_still_accepted(api):
    name = unique("ok")
    body = ' {"name" : "%s\\/\\t", "max_load_limit" : 1, "x" : [-0.5e+2, {"name": 1}, null]}\r\n' % name
    created = check_json(api.post_raw("/api/operators", body), 201)
    assert created["name"] == name + "/"  # the tab is trimmed, the escaped solidus decoded


# ---------------------------------------------------------------- canonical emails

def post_contact(api, source_id, email):
    return api.post("/api/contacts", json={"email": email, "source_id": source_id})


def lead_email(api, lead_id):
    return check_json(api.get(f"/api/leads/{lead_id}"), 200)["email"]


def test_non_ascii_email_is_201_and_lower_cased(api, make_source, db_rows):
    # refused with 404 "source not found" before: the ASCII-only lower-casing left the É, the
    # table's CHECK (email = lower(email)) failed, and the intake took it for a missing source
    src = make_source()
    tag = uuid.uuid4().hex
    contact = check_json(post_contact(api, src["id"], f"\u00c9lodie-{tag}@x.fr"), 201)
    assert lead_email(api, contact["lead_id"]) == f"\u00e9lodie-{tag}@x.fr"
    stored = db_rows("SELECT email, email = lower(email) FROM leads WHERE id = %s", (contact["lead_id"],))
    assert stored == [(f"\u00e9lodie-{tag}@x.fr", True)]
    # NFD, upper case, Unicode white space around: the same lead
    for variant in (f"E\u0301lodie-{tag}@X.FR", f"\u00a0\u00c9LODIE-{tag}@x.fr\u3000",
                    f"\u2028e\u0301lodie-{tag}@x.fr\u0085"):
        again = check_json(post_contact(api, src["id"], variant), 201)
        assert again["lead_id"] == contact["lead_id"], variant


@pytest.mark.parametrize("local, expected", [
    # ΟΔΥΣΣΕΥΣ: the last Σ, at the end of a word (before '@'), becomes the final ς
    ("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"),
    ("\u0130z", "i\u0307z"),                     # İ lower-cases to i + COMBINING DOT ABOVE
    ("\u0418\u0432\u0430\u043d", "\u0438\u0432\u0430\u043d"),
    ("Stra\u00dfe", "stra\u00dfe"),                 # lower-casing keeps ß (no case folding)
    ("\u1e9e", "\u00df"),                          # capital sharp s
    ("\u212aelvin", "kelvin"),                     # KELVIN SIGN
    ("\u212bsa", "\u00e5sa"),                      # ANGSTROM SIGN: NFC is Å
    ("\u7528\u6237", "\u7528\u6237"),
    ("\u10a0\u13a0", "\u2d00\uab70"),              # Georgian and Cherokee capitals
])
def test_unicode_lower_casing_agrees_with_the_database(api, make_source, db_rows, local, expected):
    src = make_source()
    tag = uuid.uuid4().hex[:12]
    contact = check_json(post_contact(api, src["id"], f"{tag}.{local}@x.com"), 201)
    assert lead_email(api, contact["lead_id"]) == f"{tag}.{expected}@x.com"
    rows = db_rows("SELECT email = lower(email) FROM leads WHERE id = %s", (contact["lead_id"],))
    assert rows == [(True,)]


def test_idn_domains_are_one_lead(api, make_source):
    src = make_source()
    tag = uuid.uuid4().hex
    first = check_json(post_contact(api, src["id"], f"ann-{tag}@b\u00fccher.de"), 201)
    assert lead_email(api, first["lead_id"]) == f"ann-{tag}@xn--bcher-kva.de"
    for variant in (f"ann-{tag}@xn--bcher-kva.de", f"Ann-{tag}@XN--BCHER-KVA.DE", f"ann-{tag}@B\u00dcCHER.de",
                    f"ann-{tag}@bu\u0308cher.de", f"ann-{tag}@b\u00fccher\u3002de"):
        again = check_json(post_contact(api, src["id"], variant), 201)
        assert again["lead_id"] == first["lead_id"], variant


@pytest.mark.parametrize("email", [
    "ann-{tag}\u200b@x.com",        # ZERO WIDTH SPACE
    "\ufeffann-{tag}@x.com",         # BYTE ORDER MARK
    "ann-{tag}@x\u00ad.com",         # SOFT HYPHEN
    "ann-{tag}\u202e@x.com",         # RIGHT-TO-LEFT OVERRIDE
    "ann-{tag}\u00a0x@x.com",        # NBSP inside
    "ann-{tag}\u0085x@x.com",        # NEL (a control character) inside
    "ann-{tag}\uff20x.com",          # FULLWIDTH COMMERCIAL AT
    "ann-{tag}@xn--a.com",           # not the A-label of anything
    "ann-{tag}@-b\u00fccher.de",
    "ann-{tag}@b\u00fccher",
])
def test_bad_unicode_emails_are_422(api, make_source, db_count, assert_problem, email):
    src = make_source()
    email = email.replace("{tag}", uuid.uuid4().hex)
    before = (db_count("leads"), db_count("contacts"))
    assert_problem(post_contact(api, src["id"], email), 422, fields=["email"])
    assert (db_count("leads"), db_count("contacts")) == before


def test_email_length_counts_characters(api, make_source, assert_problem):
    src = make_source()
    tag = uuid.uuid4().hex  # 32
    local = "\u00e9" * 68 + tag  # 100 characters, 168 bytes
    domain = "d" * 149 + ".com"  # 153 characters
    contact = check_json(post_contact(api, src["id"], f"{local}@{domain}"), 201)
    assert len(lead_email(api, contact["lead_id"])) == 254
    assert_problem(post_contact(api, src["id"], f"{local}x@{domain}"), 422, fields=["email"])


# ---------------------------------------------------------------- query strings, charset, HEAD

class RawResponse:
    """The parts of a requests.Response that check_problem and check_json read."""

    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def get_raw_query(api, path, query):
    """GET path?query with the query sent byte for byte (requests and urllib3 re-quote a bad '%')."""
    url = urllib.parse.urlsplit(api.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", f"{path}?{query}", headers=dict(api.headers))
        resp = conn.getresponse()
        return RawResponse(resp.status, requests.structures.CaseInsensitiveDict(resp.getheaders()), resp.read())
    finally:
        conn.close()


def test_unknown_query_parameter_is_400_naming_it(api):
    for path, query in (("/api/contacts", "lmit=10"), ("/api/leads", "limit=1&aftr_id=5"),
                        ("/api/operators", "limit=1"), ("/api/contacts/1", "x=1")):
        body = check_problem(get_raw_query(api, path, query), 400)
        assert query.split("&")[-1].split("=")[0] in body["detail"], body


def test_repeated_query_parameter_is_400(api):
    for query in ("limit=1&limit=2", "source_id=1&status=active&source_id=1", "limit=5&l%69mit=5"):
        body = check_problem(get_raw_query(api, "/api/contacts", query), 400)
        assert "repeated" in body["detail"], body


@pytest.mark.parametrize("query", [
    "status=%00", "status=active%00", "st%00atus=active", "status=%", "status=%a", "status=%ZZ", "limit=1%",
    "status=%C3", "status=%C0%AF", "status=%ED%A0%80", "limit=1&", "&limit=1", "limit=1&&after_id=1", "=1",
])
def test_bad_query_encoding_is_400(api, query):
    check_problem(get_raw_query(api, "/api/contacts", query), 400)


def test_good_query_strings_still_work(api, make_source):
    src = make_source()
    resp = get_raw_query(api, "/api/contacts", "source_id=%d&status=active&l%%69mit=5" % src["id"])
    assert check_json(resp, 200) == []
    assert check_json(get_raw_query(api, "/api/leads", "limit=1"), 200) is not None


@pytest.mark.parametrize("charset", ["iso-8859-1", "latin1", "utf-16", "\"windows-1252\"", "utf8"])
def test_charset_other_than_utf8_is_415(api, make_operator, db_count, charset):
    name = unique("cs")
    before = db_count("operators")
    resp = api.post_raw("/api/operators", '{"name":"%s","max_load_limit":1}' % name,
                        f"application/json; charset={charset}")
    check_problem(resp, 415)
    op = make_operator()
    resp = api.patch_raw(f"/api/operators/{op['id']}", '{"name":"%s"}' % name, f"application/json;charset={charset}")
    check_problem(resp, 415)
    assert db_count("operators") == before + 1  # only make_operator's
    assert db_count("operators", "name = %s", (name,)) == 0
    quoted = api.post_raw("/api/operators", '{"name":"%s","max_load_limit":1}' % name,
                          'application/json; charset="UTF-8"')
    check_json(quoted, 201)


def test_head_answers_wherever_get_does(api, make_operator, make_source):
    op, src = make_operator(), make_source()
    paths = ["/api/operators", f"/api/operators/{op['id']}", f"/api/sources/{src['id']}",
             f"/api/sources/{src['id']}/operators", f"/api/sources/{src['id']}/stats",
             f"/api/contacts?source_id={src['id']}", "/api/leads?limit=2"]
    for path in paths:
        got, head = api.get(path), api.head(path)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.content == b"", path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        if "Content-Length" in got.headers and "Content-Length" in head.headers:
            assert head.headers["Content-Length"] == got.headers["Content-Length"], path
    missing = api.head("/api/operators/99999999999")
    assert missing.status_code == 404 and missing.content == b""
    assert api.head("/api/contacts?lmit=1").status_code == 400


def test_allow_advertises_head(api):
    resp = api.delete("/api/operators/1")
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"GET", "HEAD", "PATCH"}
