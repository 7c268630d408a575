"""fastcgi.py -- a minimal FastCGI client for tests that talk to a worker socket directly
(bypassing nginx): one request per connection, responder role, request id 1.
"""
import os
import socket
import struct

BEGIN, PARAMS, STDIN, STDOUT, END = 1, 4, 5, 6, 3


def record(rtype, content=b""):
    return struct.pack("!BBHHBx", 1, rtype, 1, len(content), 0) + content


def pairs(params):
    out = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        for x in (k, v):
            out += bytes([len(x)]) if len(x) < 128 else struct.pack("!I", len(x) | 0x80000000)
        out += k + v
    return out


def head(method, uri, body_len, start=None, key="admin"):
    """BEGIN_REQUEST and the params of one request; start: CRM_REQUEST_START as nginx sends it;
    key: sent as HTTP_AUTHORIZATION "Bearer <key>" like nginx passes the header ("admin": the
    suite's admin key, CRM_TEST_API_KEY; None: no header)."""
    params = {"REQUEST_METHOD": method, "DOCUMENT_URI": uri, "REQUEST_URI": uri, "QUERY_STRING": "",
              "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(body_len),
              "SERVER_PROTOCOL": "HTTP/1.1"}
    if key == "admin":
        key = os.environ.get("CRM_TEST_API_KEY")
    if key:
        params["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if start is not None:
        params["CRM_REQUEST_START"] = f"{start:.3f}"
    return record(BEGIN, struct.pack("!HB5x", 1, 0)) + record(PARAMS, pairs(params)) + record(PARAMS)


def read_answer(s):
    """-> (status, headers, body) once END_REQUEST arrives; None when the worker closed first."""
    data, out = b"", b""
    while True:
        while len(data) < 8:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        _, rtype, _, clen, plen = struct.unpack("!BBHHBx", data[:8])
        while len(data) < 8 + clen + plen:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        content, data = data[8:8 + clen], data[8 + clen + plen:]
        if rtype == STDOUT:
            out += content
        elif rtype == END:
            break
    if not out:
        return None
    top, _, payload = out.partition(b"\r\n\r\n")
    headers = {}
    for line in top.decode().split("\r\n"):
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(headers.get("status", "200").split()[0]), headers, payload


def connect(sock_path, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s


def fcgi(sock_path, method, uri, body=b"", start=None, timeout=30, key="admin"):
    s = connect(sock_path, timeout)
    try:
        s.sendall(head(method, uri, len(body), start, key) + (record(STDIN, body) if body else b"")
                  + record(STDIN))
        answer = read_answer(s)
    finally:
        s.close()
    assert answer is not None, "the worker closed the connection without an answer"
    return answer
