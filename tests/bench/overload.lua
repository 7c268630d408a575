-- overload.lua -- wrk script: POST /api/contacts at a fixed total rate, open loop (for tests/bench/overload)
--
-- wrk is closed loop: a connection sends its next request when the answer came. With many more
-- connections than requests in flight, delay() turns it into a fixed-rate generator: every thread
-- hands out send slots BENCH_THREADS_N * 1000 / BENCH_RATE ms apart, so the offered rate does not
-- fall when answers slow down (until every connection is busy; the script reports what was sent).
-- Environment: BENCH_RATE (total req/s), BENCH_THREADS_N (wrk -t), and those of post_contacts.lua.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/post_contacts.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]])
local ts = ffi.new("bench_timespec")

local function now_ms()
	ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = bench_env_int("BENCH_RATE", 1000)
local nthreads = bench_env_int("BENCH_THREADS_N", 2)
local interval = 1000 * nthreads / rate -- ms between two sends of this thread
local next_at = nil

function delay()
	local t = now_ms()
	if next_at == nil or next_at < t - 1000 then
		next_at = t -- short of connections for more than a second: do not burst to catch up
	end
	next_at = next_at + interval
	return math.max(0, next_at - t)
end
