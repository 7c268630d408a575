"""clients.py -- what the clients of tests/faults/faults.py and tests/ha/ha.py share.

A session that sends the API key; the client the README asks for, which retries POST
/api/contacts with the same Idempotency-Key and body on a 5xx, a 409 or a timeout until it is
answered (each caller keeps its own bookkeeping in the record callback); and the checks, printed
one per line and summed up in the "N passed, N failed" line both runs end with.
"""
import time

import requests

results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(("ok     " if ok else "FAILED ") + what, flush=True)


def summary():
    """Prints the "N passed, N failed" line; returns the exit status (1 if a check failed)."""
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


def api_session(key):
    """A session that sends the API key with every request."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    return s


def post_until_answered(session, new_session, url, body, key, record, timeout=5, pause=0.05):
    """POSTs body to url/api/contacts with Idempotency-Key key until it is answered 201 or a 4xx
    other than 409 (not retried: the caller's check fails on it). A timeout or a broken connection
    replaces the session with new_session(). record(status, response, first) is called for every
    answer (status and response None for a timeout or a broken connection; first: the request's
    first attempt). Returns (the session now in use, the last response or None)."""
    first = True
    while True:
        try:
            r = session.post(url + "/api/contacts", json=body, headers={"Idempotency-Key": key}, timeout=timeout)
            status = r.status_code
        except requests.RequestException:
            r, status = None, None
            session.close()
            session = new_session()
        record(status, r, first)
        first = False
        if status == 201 or (status is not None and status < 500 and status != 409):
            return session, r
        time.sleep(pause)
