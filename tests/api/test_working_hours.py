"""Working hours (issue 13): an operator's `schedule`, `on_shift`, eligibility, the drainer's timer.

Schedules are built relative to the current time (a shift that covers now, one that starts in
two hours), mostly in Asia/Kolkata, whose offset from UTC (+05:30) is not a whole number of
hours, so that a confusion of local time and UTC shows. Daylight-saving weekends, night shifts
and days off at fixed moments are the pgTAP suite's (tests/db/15_schedule.sql,
tests/db/16_working_hours.sql): the database computes them with a given "now".
"""

import datetime
import time
from zoneinfo import ZoneInfo

import pytest
from helpers import (MISSING_ID, check_problem, configure, new_email, post, require_env, set_operator,
                     unique)

require_env("CRM_TEST_URL", "CRM_TEST_DSN")

ZONE = "Asia/Kolkata"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def hhmm(t):
    return t.strftime("%H:%M")


def shift(start, end, zone=ZONE):
    """The weekly shift from `start` to `end` (aware datetimes, to the minute) in `zone`."""
    s, e = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    return {"day": DAYS[s.weekday()], "from": hhmm(s), "to": hhmm(e)}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def covering(zone=ZONE, days_off=None):
    """A schedule whose one shift runs from an hour ago to an hour from now."""
    n = now_utc()
    body = {"timezone": zone, "weekly": [shift(n - datetime.timedelta(hours=1), n + datetime.timedelta(hours=1), zone)]}
    if days_off is not None:
        body["days_off"] = days_off
    return body


def ahead(zone=ZONE):
    """A schedule whose one shift starts in two hours and lasts one."""
    n = now_utc()
    return {"timezone": zone, "weekly": [shift(n + datetime.timedelta(hours=2), n + datetime.timedelta(hours=3), zone)]}


def canonical(schedule):
    """What the API answers for a schedule: shifts ordered and deduped, days_off sorted, present."""
    weekly = sorted({(DAYS.index(w["day"]), w["from"], w["to"]) for w in schedule["weekly"]})
    return {"timezone": schedule["timezone"],
            "weekly": [{"day": DAYS[d], "from": f, "to": t} for d, f, t in weekly],
            "days_off": sorted(set(schedule.get("days_off", [])))}


def db_schedule(db_rows, op_id):
    return db_rows("SELECT schedule, on_shift FROM operators WHERE id = %s", (op_id,))[0]


@pytest.fixture()
def setup(api, assert_json, make_source, make_operator):
    """(source, operator): a fresh source whose only operator is fresh, limit 5, no schedule."""
    src = make_source()
    op = make_operator(max_load_limit=5)
    configure(api, assert_json, src["id"], [(op["id"], 1)])
    return src, op


# ---------------------------------------------------------------- the field


def test_default_is_null_and_on_shift(make_operator, db_rows):
    op = make_operator()
    assert op["schedule"] is None and op["on_shift"] is True, op
    assert db_schedule(db_rows, op["id"]) == (None, True)


def test_create_with_schedule_stored_canonical(make_operator, db_rows):
    n = now_utc()
    a = shift(n + datetime.timedelta(hours=2), n + datetime.timedelta(hours=3))
    b = {"day": "sun", "from": "22:00", "to": "06:00"}  # a night shift
    c = {"day": "mon", "from": "09:00", "to": "12:00"}
    sched = {"timezone": ZONE, "weekly": [b, a, c, b, a], "days_off": ["2026-12-31", "2026-12-24", "2026-12-31"]}
    op = make_operator(schedule=sched)
    assert op["schedule"] == canonical(sched), op
    assert len(op["schedule"]["weekly"]) == 3 and op["schedule"]["days_off"] == ["2026-12-24", "2026-12-31"]
    assert db_schedule(db_rows, op["id"])[0] == canonical(sched)


def test_on_shift_inside_and_outside(api, assert_json, make_operator):
    inside = make_operator(schedule=covering())
    outside = make_operator(schedule=ahead())
    assert inside["on_shift"] is True, inside
    assert outside["on_shift"] is False, outside
    listed = {o["id"]: o for o in assert_json(api.get("/api/operators"), 200)}
    assert listed[inside["id"]]["on_shift"] is True and listed[outside["id"]]["on_shift"] is False
    got = assert_json(api.get(f"/api/operators/{outside['id']}"), 200)
    assert got == outside


def test_utc_and_offset_zone_differ(make_operator):
    """The same wall-clock hours read in UTC and in a zone 5:30 away are not the same shift."""
    n = now_utc()
    local_now = n.astimezone(ZoneInfo(ZONE))
    # the local hours around now in Kolkata, given as UTC hours: 5:30 off, so not covering now
    wrong = {"timezone": "UTC", "weekly": [{"day": DAYS[local_now.weekday()],
                                            "from": hhmm(local_now - datetime.timedelta(minutes=30)),
                                            "to": hhmm(local_now + datetime.timedelta(minutes=30))}]}
    right = dict(wrong, timezone=ZONE)
    if (local_now - datetime.timedelta(minutes=30)).date() != (local_now + datetime.timedelta(minutes=30)).date():
        pytest.skip("too close to local midnight for a one-day shift")
    assert make_operator(schedule=right)["on_shift"] is True
    assert make_operator(schedule=wrong)["on_shift"] is False


def test_day_off_cancels_the_shift(make_operator):
    n = now_utc()
    start = (n - datetime.timedelta(hours=1)).astimezone(ZoneInfo(ZONE))
    op = make_operator(schedule=covering(days_off=[start.date().isoformat()]))
    assert op["on_shift"] is False, op
    other = (start.date() + datetime.timedelta(days=1)).isoformat()
    assert make_operator(schedule=covering(days_off=[other]))["on_shift"] is True


def test_empty_week_never_on_shift(make_operator):
    op = make_operator(schedule={"timezone": "UTC", "weekly": []})
    assert op["schedule"] == {"timezone": "UTC", "weekly": [], "days_off": []}
    assert op["on_shift"] is False


def test_patch_schedule_and_back_to_null(api, assert_json, make_operator, db_rows):
    op = make_operator()
    body = set_operator(api, assert_json, op["id"], schedule=ahead())
    assert body["on_shift"] is False and body["schedule"]["timezone"] == ZONE
    body = set_operator(api, assert_json, op["id"], name="kept")
    assert body["schedule"] is not None and body["on_shift"] is False, "absent: unchanged"
    body = set_operator(api, assert_json, op["id"], schedule=None)
    assert body["schedule"] is None and body["on_shift"] is True, "null: always at work"
    assert db_schedule(db_rows, op["id"]) == (None, True)
    assert db_rows("SELECT shift_change_at FROM operators WHERE id = %s", (op["id"],))[0][0] is None


# ---------------------------------------------------------------- refusals


BAD = [
    ({"timezone": "Not a zone!", "weekly": []}, {"schedule.timezone"}),
    ({"timezone": "", "weekly": []}, {"schedule.timezone"}),
    ({"weekly": []}, {"schedule.timezone"}),
    ({"timezone": "UTC"}, {"schedule.weekly"}),
    ({"timezone": 5, "weekly": {}}, {"schedule.timezone", "schedule.weekly"}),
    ({"timezone": "UTC", "weekly": [{"day": "monday", "from": "09:00", "to": "10:00"}]}, {"schedule.weekly[0].day"}),
    ({"timezone": "UTC", "weekly": [{"day": "Mon", "from": "09:00", "to": "10:00"}]}, {"schedule.weekly[0].day"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": "9:00", "to": "10:00"}]}, {"schedule.weekly[0].from"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": "09:00", "to": "24:00"}]}, {"schedule.weekly[0].to"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": "09:60", "to": "10:00"}]}, {"schedule.weekly[0].from"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": "09:00"}]}, {"schedule.weekly[0].to"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": 900, "to": "10:00"}]}, {"schedule.weekly[0].from"}),
    ({"timezone": "UTC", "weekly": ["mon"]}, {"schedule.weekly[0]"}),
    ({"timezone": "UTC", "weekly": [{"day": "mon", "from": "09:00", "to": "10:00"},
                                    {"day": "tue", "from": "10:00", "to": "10:00"},
                                    {"day": "sun", "from": "08:00", "to": "25:00"}]},
     {"schedule.weekly[1].to", "schedule.weekly[2].to"}),
    ({"timezone": "UTC", "weekly": [], "days_off": ["2026-02-30"]}, {"schedule.days_off[0]"}),
    ({"timezone": "UTC", "weekly": [], "days_off": ["2026-12-24", "24.12.2026", "2026-13-01"]},
     {"schedule.days_off[1]", "schedule.days_off[2]"}),
    ({"timezone": "UTC", "weekly": [], "days_off": "2026-12-24"}, {"schedule.days_off"}),
    ({"timezone": "UTC", "weekly": [], "days_off": ["1999-12-31"]}, {"schedule.days_off[0]"}),
    ("mon-fri", {"schedule"}),
    ([], {"schedule"}),
]


@pytest.mark.parametrize("sched,fields", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_create_refused_names_each_field(api, db_count, sched, fields):
    before = db_count("operators")
    resp = api.post("/api/operators", json={"name": unique("op"), "max_load_limit": 1, "schedule": sched})
    check_problem(resp, 422, fields)
    assert db_count("operators") == before


@pytest.mark.parametrize("sched,fields", BAD[:8], ids=[f"bad{i}" for i in range(8)])
def test_patch_refused_changes_nothing(api, assert_json, make_operator, db_rows, sched, fields):
    op = make_operator(schedule=covering())
    check_problem(api.patch(f"/api/operators/{op['id']}", json={"schedule": sched, "name": "changed"}), 422, fields)
    assert assert_json(api.get(f"/api/operators/{op['id']}"), 200) == op


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Atlantis", "Foo"])
def test_unknown_zone_is_422_timezone(api, assert_json, make_operator, db_count, zone):
    """The name is well formed, the database does not know it: 422 on schedule.timezone."""
    before = db_count("operators")
    resp = api.post("/api/operators", json={"name": unique("op"), "max_load_limit": 1,
                                            "schedule": {"timezone": zone, "weekly": []}})
    body = check_problem(resp, 422, {"schedule.timezone"})
    assert "time zone" in body["errors"][0]["message"], body
    assert db_count("operators") == before
    op = make_operator()
    check_problem(api.patch(f"/api/operators/{op['id']}", json={"schedule": {"timezone": zone, "weekly": []}}),
                  422, {"schedule.timezone"})
    assert assert_json(api.get(f"/api/operators/{op['id']}"), 200) == op


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_known_zones_accepted(make_operator, zone):
    assert make_operator(schedule={"timezone": zone, "weekly": []})["schedule"]["timezone"] == zone


def test_patch_needs_a_field(api, make_operator):
    op = make_operator()
    body = check_problem(api.patch(f"/api/operators/{op['id']}", json={}), 422, {"body"})
    assert "schedule" in body["errors"][0]["message"], body


def test_patch_unknown_operator(api):
    check_problem(api.patch(f"/api/operators/{MISSING_ID}", json={"schedule": None}), 404)


# ---------------------------------------------------------------- eligibility


def test_off_shift_is_not_drawn(api, assert_json, make_source, make_operator):
    src = make_source()
    on = make_operator(max_load_limit=100, schedule=covering())
    off = make_operator(max_load_limit=100, schedule=ahead())
    configure(api, assert_json, src["id"], [(on["id"], 1), (off["id"], 1000)])
    for _ in range(20):
        post(api, assert_json, src["id"], on["id"])


def test_all_off_shift_waits_with_note_and_stats(api, assert_json, make_source, make_operator):
    src = make_source()
    a = make_operator(schedule=ahead())
    b = make_operator(schedule=ahead("UTC"))
    inactive = make_operator(is_active=False)
    configure(api, assert_json, src["id"], [(a["id"], 1), (b["id"], 2), (inactive["id"], 3)])
    c = post(api, assert_json, src["id"], None)
    hist = assert_json(api.get(f"/api/contacts/{c['id']}/assignments"), 200)
    assert hist[0]["note"] == "all off shift", hist
    cands = {x["operator_id"]: x for x in hist[0]["candidates"]}
    assert cands[a["id"]]["on_shift"] is False and cands[a["id"]]["eligible"] is False, cands
    assert "on_shift" not in cands[inactive["id"]], cands
    stats = assert_json(api.get(f"/api/sources/{src['id']}/stats"), 200)
    assert {o["operator_id"]: o["on_shift"] for o in stats["operators"]} == {
        a["id"]: False, b["id"]: False, inactive["id"]: True}
    assert stats["waiting"] == 1


def test_schedule_change_seen_by_the_next_intake(api, assert_json, setup):
    src, op = setup
    set_operator(api, assert_json, op["id"], schedule=ahead())
    post(api, assert_json, src["id"], None)
    body = set_operator(api, assert_json, op["id"], schedule=covering())
    assert body["on_shift"] is True
    # the waiting one was drained by the PATCH itself (capacity appeared), the next one is taken
    assert body["active_contacts"] == 1, body
    post(api, assert_json, src["id"], op["id"])
    set_operator(api, assert_json, op["id"], schedule=ahead())
    post(api, assert_json, src["id"], None)
    set_operator(api, assert_json, op["id"], schedule=None)
    post(api, assert_json, src["id"], op["id"])


def test_shift_end_keeps_contacts(api, assert_json, setup, db_rows):
    src, op = setup
    set_operator(api, assert_json, op["id"], schedule=covering())
    c = post(api, assert_json, src["id"], op["id"])
    body = set_operator(api, assert_json, op["id"], schedule=ahead())
    assert body["on_shift"] is False and body["active_contacts"] == 1, body
    got = assert_json(api.get(f"/api/contacts/{c['id']}"), 200)
    assert got["operator_id"] == op["id"] and got["status"] == "active", got
    stats = assert_json(api.get(f"/api/sources/{src['id']}/stats"), 200)
    assert stats["operators"][0]["on_shift"] is False and stats["operators"][0]["active_contacts"] == 1


def test_manual_assignment_to_off_shift_is_409(api, assert_json, setup, db_rows):
    src, op = setup
    set_operator(api, assert_json, op["id"], schedule=ahead())
    c = post(api, assert_json, src["id"], None)
    body = check_problem(api.patch(f"/api/contacts/{c['id']}", json={"operator_id": op["id"]}), 409)
    assert "off shift" in body["detail"], body
    assert db_rows("SELECT operator_id FROM contacts WHERE id = %s", (c["id"],))[0][0] is None


# ---------------------------------------------------------------- the drainer's timer


def wait_for_minute(lead):
    """Sleeps until `lead` seconds before the next full minute; returns that minute (UTC)."""
    n = now_utc()
    minute = n.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    if (minute - n).total_seconds() < lead + 0.5:
        minute += datetime.timedelta(minutes=1)
    time.sleep(max(0.0, (minute - now_utc()).total_seconds() - lead))
    return minute


@pytest.mark.slow
@pytest.mark.deadline
def test_shift_start_drains_the_backlog_within_a_second(api, assert_json, make_source, make_operator, db_rows):
    """A shift starting two seconds from now: its source's waiting contacts are assigned, oldest
    first, within a second of the start. The schedule's PATCH wakes the drainer (NOTIFY) two
    seconds before, so its next safety sweep (10 s) comes eight seconds after the start: only the
    timer planned at the earliest shift change can make it."""
    src = make_source()
    op = make_operator(max_load_limit=10, schedule={"timezone": ZONE, "weekly": []})
    other = make_operator(max_load_limit=10, schedule={"timezone": ZONE, "weekly": []})
    configure(api, assert_json, src["id"], [(op["id"], 1), (other["id"], 1)])
    waiting = sorted(post(api, assert_json, src["id"], None)["id"] for _ in range(5))
    start = wait_for_minute(2.0)
    body = set_operator(api, assert_json, op["id"], schedule={
        "timezone": ZONE, "weekly": [shift(start, start + datetime.timedelta(minutes=10))]})
    assert body["on_shift"] is False, body
    assert now_utc() < start, "the PATCH came after the shift start: the machine is too slow"
    deadline = time.monotonic() + (start - now_utc()).total_seconds() + 5
    while time.monotonic() < deadline:
        if db_rows("SELECT count(*) FROM contacts WHERE id = ANY(%s) AND operator_id IS NOT NULL",
                   (waiting,))[0][0] == len(waiting):
            break
        time.sleep(0.05)
    rows = db_rows("SELECT a.contact_id, a.operator_id, a.reason, a.created_at FROM assignments a"
                   " WHERE a.contact_id = ANY(%s) ORDER BY a.id", (waiting,))
    assert [r[0] for r in rows] == waiting, f"not every contact assigned once, oldest first: {rows}"
    assert {r[1] for r in rows} == {op["id"]} and {r[2] for r in rows} == {"backlog"}, rows
    delays = [(r[3] - start).total_seconds() for r in rows]
    print(f"drain delay after the shift start: {max(delays):.3f} s")
    assert 0 <= min(delays) and max(delays) < 1.0, delays
    got = assert_json(api.get(f"/api/operators/{op['id']}"), 200)
    assert got["on_shift"] is True and got["active_contacts"] == len(waiting), got
