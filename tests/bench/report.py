#!/usr/bin/python3
"""report.py -- helpers of tests/bench/run (standard library only)

  report.py pgbench-log PREFIX      per-transaction logs PREFIX.* (pgbench -l --log-prefix) ->
                                    "txns=N failed=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.."
  report.py count-rows FILE         rows of a GET /api/contacts body (a JSON array of objects) ->
                                    "rows=N complete=1|0" (complete: starts with '[' and ends with ']')
  report.py render RESULTS META     the markdown report on stdout

RESULTS has one measurement per line, space-separated key=value tokens (name=... first);
META has one "key=value with spaces" per line.
"""
import glob
import math
import sys


def percentile(sorted_vals, p):
    """Nearest-rank percentile (as wrk and most tools report it)."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def pgbench_log(prefix):
    lat, failed = [], 0
    for path in sorted(glob.glob(prefix + ".*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
                if len(parts) < 6:
                    continue
                try:
                    lat.append(int(parts[2]))
                except ValueError:  # "failed" / "skipped"
                    failed += 1
    lat.sort()
    ms = lambda us: us / 1000.0
    print("txns=%d log_failed=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f" % (
        len(lat), failed, ms(percentile(lat, 50)), ms(percentile(lat, 90)),
        ms(percentile(lat, 99)), ms(lat[-1] if lat else float("nan"))))


def count_rows(path):
    needle = b'"lead_id":'
    rows, tail, first, last = 0, b"", None, b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            if first is None:
                first = chunk.lstrip()[:1]
            buf = tail + chunk
            rows += buf.count(needle)
            tail = buf[-(len(needle) - 1):]  # too short to hold a whole match: none counted twice
            last = (last + chunk)[-64:]
    complete = first == b"[" and last.rstrip().endswith(b"]")
    print("rows=%d complete=%d" % (rows, 1 if complete else 0))


# ---------------------------------------------------------------------------------------------

def read_results(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = {}
            for tok in line.split():
                k, _, v = tok.partition("=")
                d[k] = v
            out.append(d)
    return out


def read_meta(path):
    d = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, _, v = line.partition("=")
                d[k] = v
    return d


def num(d, k):
    try:
        return float(d.get(k, "nan"))
    except ValueError:
        return float("nan")


def fnum(x, digits=0):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if digits == 0:
        return "{:,.0f}".format(x)
    return "{:,.{}f}".format(x, digits)


def errors_of(d):
    """Total errors and a short explanation."""
    if d.get("kind") == "pgbench":
        n = int(num(d, "failed") or 0) + int(num(d, "aborted") or 0)
        note = []
        if num(d, "aborted") > 0:
            note.append("%d clients aborted" % num(d, "aborted"))
        if num(d, "failed") > 0:
            note.append("%d failed" % num(d, "failed"))
        return n, ", ".join(note)
    keys = ["non2xx", "sock_connect", "sock_read", "sock_write", "sock_timeout"]
    vals = {k: int(num(d, k)) if not math.isnan(num(d, k)) else 0 for k in keys}
    n = sum(vals.values())
    note = []
    if vals["non2xx"]:
        s = "%d non-2xx" % vals["non2xx"]
        if int(num(d, "http5xx") or 0):
            s += " (%d 5xx)" % num(d, "http5xx")
        if d.get("first_bad", "0") not in ("0", ""):
            s += ", first %s" % d["first_bad"]
        note.append(s)
    for k in keys[1:]:
        if vals[k]:
            note.append("%d %s" % (vals[k], k.replace("sock_", "socket ")))
    return n, "; ".join(note)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def render(results_path, meta_path):
    res = read_results(results_path)
    meta = read_meta(meta_path)
    by = {d["name"]: d for d in res}
    w = sys.stdout.write

    w("## mini-crm benchmark, %s\n\n" % meta.get("date", "?"))
    if meta.get("short_run") == "1":
        w("**Short/development run** (durations or data sizes below the defaults): numbers are indicative only.\n\n")
    w("| setting | value |\n|---|---|\n")
    for k, label in [
        ("machine", "machine"), ("nproc", "nproc"), ("cpu", "CPU"), ("mem", "memory"),
        ("load", "load average (start / end)"), ("commit", "git commit"), ("workers", "crm workers"),
        ("pg", "PostgreSQL"), ("pg_settings", "PostgreSQL settings"), ("tools", "drivers"),
        ("durations", "durations"), ("data", "data set"), ("total_time", "suite wall time"),
    ]:
        if k in meta:
            w("| %s | %s |\n" % (label, meta[k]))
    w("\n")

    # --- main table
    w("| # | measurement | conns | contacts stored | req/s | p50 ms | p99 ms | errors |\n")
    w("|---|---|---:|---:|---:|---:|---:|---|\n")
    for d in res:
        if d.get("kind") not in ("post", "pgbench", "get"):
            continue
        n, note = errors_of(d)
        w("| %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
            d.get("section", ""), d.get("label", d["name"]).replace("_", " "), d.get("conns", ""),
            fnum(num(d, "stored")) if "stored" in d else "",
            fnum(num(d, "rps"), 0), fnum(num(d, "p50_ms"), 2), fnum(num(d, "p99_ms"), 2),
            str(n) + (" (" + note + ")" if note else "")))
    w("\n")

    # --- ratios POST / ceiling
    ratios = {}
    conns_list = sorted({d["conns"] for d in res if d["name"].startswith("pgbench_c")}, key=int)
    pw = by.get("pgbench_workers")
    if conns_list:
        w("| conns | POST req/s | pgbench tps, same conns (ceiling) | ratio POST / ceiling |%s\n" % (
            " pgbench tps, %s clients (= workers) | ratio (info) |" % pw["conns"] if pw else ""))
        w("|---:|---:|---:|---:|%s\n" % ("---:|---:|" if pw else ""))
        for c in conns_list:
            p, g = by.get("post_c%s" % c), by.get("pgbench_c%s" % c)
            if p and g and num(g, "rps") > 0:
                ratios[c] = num(p, "rps") / num(g, "rps")
                extra = ""
                if pw and num(pw, "rps") > 0:
                    extra = " %s | %.2f |" % (fnum(num(pw, "rps")), num(p, "rps") / num(pw, "rps"))
                w("| %s | %s | %s | %.2f |%s\n" % (c, fnum(num(p, "rps")), fnum(num(g, "rps")), ratios[c], extra))
        w("\n")

    # --- the key check (section 1b): POST with keys / POST without the check
    auth = None
    on = [d for d in res if d["name"].startswith("auth_on_")]
    off = [d for d in res if d["name"].startswith("auth_off_")]
    if on and off:
        on_rps = sum(num(d, "rps") for d in on) / len(on)
        off_rps = sum(num(d, "rps") for d in off) / len(off)
        auth = on_rps / off_rps if off_rps > 0 else float("nan")
        w("| conns | rounds | POST req/s with keys (mean) | POST req/s without the check (mean, CRM_BENCH_NO_AUTH)"
          " | ratio |\n")
        w("|---:|---:|---:|---:|---:|\n")
        w("| %s | %d + %d | %s | %s | %.3f |\n\n" % (on[0].get("conns", "?"), len(on), len(off), fnum(on_rps),
                                                     fnum(off_rps), auth))

    # --- growth
    growth = {}
    grow_rows = [(d, by.get(d["name"].replace("big_", ""))) for d in res if d["name"].startswith("big_post_c")]
    if grow_rows:
        w("| conns | POST p50 / p99 ms, %s stored | POST p50 / p99 ms, %s stored | p50 ratio |\n" % (
            fnum(num(grow_rows[0][1], "stored")) if grow_rows[0][1] else "?",
            fnum(num(grow_rows[0][0], "stored"))))
        w("|---:|---:|---:|---:|\n")
        for big, small in grow_rows:
            if not small:
                continue
            r = num(big, "p50_ms") / num(small, "p50_ms") if num(small, "p50_ms") > 0 else float("nan")
            growth[big["conns"]] = (r, small, big)
            w("| %s | %s / %s | %s / %s | %.2f |\n" % (
                big["conns"], fnum(num(small, "p50_ms"), 2), fnum(num(small, "p99_ms"), 2),
                fnum(num(big, "p50_ms"), 2), fnum(num(big, "p99_ms"), 2), r))
        w("\n")

    # --- streaming
    st = by.get("stream")
    if st:
        w("| GET /api/contacts stream | value |\n|---|---:|\n")
        w("| HTTP status | %s |\n" % st.get("status", "?"))
        w("| rows (expected) | %s (%s) |\n" % (fnum(num(st, "rows")), fnum(num(st, "expected"))))
        w("| bytes | %s |\n" % fnum(num(st, "bytes")))
        w("| seconds | %s |\n" % fnum(num(st, "secs"), 2))
        w("| rows/s | %s |\n" % fnum(num(st, "rows_per_s")))
        w("| MB/s | %s |\n" % fnum(num(st, "bytes") / 1e6 / num(st, "secs") if num(st, "secs") > 0 else float("nan"), 1))
        w("| worker peak RSS (VmHWM, max over workers) before / after | %s / %s MB |\n" % (
            fnum(num(st, "hwm_before_kb") / 1024, 1), fnum(num(st, "hwm_after_kb") / 1024, 1)))
        w("\n")

    # --- targets
    w("| target | measured | result |\n|---|---:|---|\n")
    c_hi = conns_list[-1] if conns_list else "64"
    r = ratios.get(c_hi)
    w("| POST at %s conns >= 0.8 x pgbench ceiling | %s | %s |\n" % (
        c_hi, "n/a" if r is None else "%.2f" % r, verdict(None if r is None else r >= 0.8)))
    p = by.get("post_c%s" % c_hi)
    p99 = num(p, "p99_ms") if p else float("nan")
    w("| POST at %s conns p99 < 100 ms | %s ms | %s |\n" % (
        c_hi, fnum(p99, 2), verdict(None if math.isnan(p99) else p99 < 100)))
    if auth is not None:
        w("| POST with keys >= 0.97 x POST without the key check | %.3f | %s |\n" % (
            auth, verdict(None if math.isnan(auth) else auth >= 0.97)))
    posts = [d for d in res if d.get("kind") == "post"]
    perr = sum(errors_of(d)[0] for d in posts)
    w("| POST zero errors (all %d POST runs) | %d | %s |\n" % (
        len(posts), perr, verdict(None if not posts else perr == 0)))
    if growth:
        c_lo = sorted(growth, key=int)[0]
        g, small, big = growth[c_lo]
        w("| POST p50 with %s stored <= 1.2 x p50 with %s (%s conns) | %.2f x | %s |\n" % (
            fnum(num(big, "stored")), fnum(num(small, "stored")), c_lo, g,
            verdict(None if math.isnan(g) else g <= 1.2)))
        for c in sorted(growth, key=int)[1:]:
            w("| (info) same at %s conns | %.2f x | %s |\n" % (c, growth[c][0], "info"))
    if st:
        hwm = num(st, "hwm_after_kb") / 1024
        w("| stream: worker peak RSS < 32 MB | %s MB | %s |\n" % (
            fnum(hwm, 1), verdict(None if math.isnan(hwm) else hwm < 32)))
        rps = num(st, "rows_per_s")
        ok = None if math.isnan(rps) else (rps >= 200000 and st.get("complete") == "1")
        w("| stream: >= 200,000 rows/s (complete body) | %s | %s |\n" % (fnum(rps), verdict(ok)))
    w("\n")
    if meta.get("notes"):
        w("Notes: %s\n" % meta["notes"])


def main(argv):
    if len(argv) == 3 and argv[1] == "pgbench-log":
        pgbench_log(argv[2])
    elif len(argv) == 3 and argv[1] == "count-rows":
        count_rows(argv[2])
    elif len(argv) == 4 and argv[1] == "render":
        render(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
