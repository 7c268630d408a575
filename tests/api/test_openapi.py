"""The OpenAPI document matches the route table; Swagger UI is served."""

import json
import os
import re
import subprocess
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest
from helpers import require_env

require_env("CRM_TEST_URL", "CRM_BIN")

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ROUTE_LINE = re.compile(r"^([A-Z]+) (/\S*) ([a-z,]+)$")  # METHOD PATTERN SCOPES
# served by nginx, not part of the documented API
SELF_PATHS = ("/openapi.json", "/docs")


def normalise(path):
    """Path parameters compare by position, not by name: {id} == {operator_id}."""
    return re.sub(r"\{[^}/]+\}", "{}", path)


def is_self(path):
    return path in SELF_PATHS or path.startswith("/docs/")


@pytest.fixture(scope="module")
def document(api):
    resp = api.get("/openapi.json")
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    try:
        doc = json.loads(resp.content)
    except ValueError as exc:
        pytest.fail(f"/openapi.json does not parse: {exc}")
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def routes():
    out = subprocess.run([os.environ["CRM_BIN"], "routes"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    table = set()
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        m = ROUTE_LINE.match(line)
        assert m, f"`crm routes` line not 'METHOD /pattern SCOPES': {line!r}"
        table.add((m.group(1), m.group(2)))
    assert table, "`crm routes` printed nothing"
    return table


def doc_operations(doc):
    ops = set()
    for path, item in doc["paths"].items():
        assert isinstance(item, dict), path
        for key in item:
            if key.lower() in HTTP_METHODS:
                ops.add((key.upper(), path))
    return ops


def test_document_is_openapi_3(document):
    assert isinstance(document.get("openapi"), str) and document["openapi"].startswith("3.")
    info = document.get("info")
    assert isinstance(info, dict) and info.get("title") and info.get("version")
    assert isinstance(document.get("paths"), dict) and document["paths"]


def test_routes_table_has_the_contract_routes(routes):
    for op in [("GET", "/api/operators"), ("POST", "/api/operators"),
               ("GET", "/api/operators/{id}"), ("PATCH", "/api/operators/{id}"),
               ("GET", "/api/sources"), ("POST", "/api/sources"),
               ("GET", "/api/sources/{id}"), ("GET", "/api/sources/{id}/operators"),
               ("POST", "/api/sources/{id}/operators")]:
        assert op in routes, f"{op} missing from `crm routes`"


def test_document_operations_equal_route_table(document, routes):
    ops = doc_operations(document)
    listed_self = {op for op in ops if is_self(op[1])}
    assert not listed_self, f"the document lists itself/docs: {listed_self}"
    documented = {(m, normalise(p)) for m, p in ops}
    served = {(m, normalise(p)) for m, p in routes if not is_self(p)}
    assert len(documented) == len(ops), "two document paths differ only in parameter names"
    assert documented - served == set(), "documented but not routed"
    assert served - documented == set(), "routed but not documented"


def test_every_operation_documents_path_params_and_responses(document):
    for path, item in document["paths"].items():
        names = re.findall(r"\{([^}/]+)\}", path)
        common = item.get("parameters", [])
        for key, op in item.items():
            if key.lower() not in HTTP_METHODS:
                continue
            assert isinstance(op.get("responses"), dict) and op["responses"], (key, path)
            params = [resolve(document, p) for p in common + op.get("parameters", [])]
            in_path = {p.get("name") for p in params if p.get("in") == "path"}
            assert in_path == set(names), f"{key.upper()} {path}: path params {in_path}"


def resolve(doc, node):
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not ref:
        return node
    return resolve(doc, pointer(doc, ref))


def pointer(doc, ref):
    assert ref.startswith("#/"), f"external $ref {ref!r}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref!r}"
        node = node[part]
    return node


def test_all_refs_resolve(document):
    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                pointer(document, node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href") and "stylesheet" in (attrs.get("rel") or ""):
            self.urls.append(attrs["href"])


def test_docs_serves_swagger_ui(api):
    resp = api.get("/docs/")
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers.get("Content-Type", "").startswith("text/html")
    html = resp.text
    assert "swagger-ui" in html.lower()

    # the page's own scripts and stylesheets are served, and together they
    # point Swagger UI at our document (not at swagger-ui-dist's petstore demo)
    parser = _Assets()
    parser.feed(html)
    assert parser.urls, "no scripts or stylesheets referenced"
    page_url = api.url("/docs/")
    texts = [html]
    for ref in parser.urls:
        url = urljoin(page_url, ref)
        if urlparse(url).netloc != urlparse(page_url).netloc:
            continue
        asset = api.get(url)
        assert asset.status_code == 200, f"{ref} -> {asset.status_code}"
        if "bundle" not in ref and "preset" not in ref:
            texts.append(asset.text)
    joined = "\n".join(texts)
    assert "openapi.json" in joined, "Swagger UI is not configured with /openapi.json"
    assert "petstore" not in joined.lower(), "Swagger UI still points at the petstore demo"


def test_docs_without_slash_reaches_swagger_ui(api):
    resp = api.get("/docs", allow_redirects=True)
    assert resp.status_code == 200
    assert "swagger-ui" in resp.text.lower()
