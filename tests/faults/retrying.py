"""retrying.py -- a client that retries POST /api/contacts with its Idempotency-Key until it is answered.

Shared by tests/faults/faults.py and tests/ha/ha.py: the behaviour the README asks of a client
(retry a 5xx, a 409 or a timeout with the same key and body) in one place; each caller keeps its
own bookkeeping in the record callback.
"""
import time

import requests


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
