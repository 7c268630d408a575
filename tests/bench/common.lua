-- common.lua -- shared by the wrk scripts of tests/bench (loaded with dofile from each of them)
--
-- Counts non-2xx answers per thread in response() and, in done(), prints one machine-readable line
-- that tests/bench/run parses:
--   BENCH_RESULT requests=N duration_s=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. non2xx=N
--                http5xx=N first_bad=STATUS sock_connect=N sock_read=N sock_write=N sock_timeout=N
-- Latency percentiles are wrk's (completed requests, from send to whole response).

-- Every /api/ request carries the stack's API key (BENCH_API_KEY, which the bench scripts export
-- from .local/<stack>/api-key): in wrk.headers for the scripts that use wrk's defaults, and through
-- bench_auth(headers) for those that pass their own header table.
local bench_key = os.getenv("BENCH_API_KEY") or ""
if bench_key ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. bench_key
end

function bench_auth(headers)
	if bench_key ~= "" then
		headers["Authorization"] = "Bearer " .. bench_key
	end
	return headers
end

local threads = {}
local next_tid = 0

function setup(thread)
	next_tid = next_tid + 1
	thread:set("tid", next_tid)
	table.insert(threads, thread)
end

-- globals of each thread's Lua state (read back with thread:get in done)
non2xx = 0
http5xx = 0
first_bad = 0

function bench_seed()
	-- distinct per thread and per run; wrk's LuaJIT math.random is good enough for ids
	local t = tonumber(tid) or 0
	math.randomseed(os.time() * 1000 + t * 7919 + math.floor((os.clock() * 1e6) % 1e6))
	for _ = 1, 10 do math.random() end
end

function response(status, headers, body)
	if status < 200 or status > 299 then
		non2xx = non2xx + 1
		if status >= 500 then http5xx = http5xx + 1 end
		if first_bad == 0 then first_bad = status end
	end
end

function done(summary, latency, requests)
	local n2, n5, bad = 0, 0, 0
	for _, t in ipairs(threads) do
		n2 = n2 + (tonumber(t:get("non2xx")) or 0)
		n5 = n5 + (tonumber(t:get("http5xx")) or 0)
		local b = tonumber(t:get("first_bad")) or 0
		if bad == 0 then bad = b end
	end
	local secs = summary.duration / 1e6
	local e = summary.errors
	io.write(string.format(
		"BENCH_RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f"
			.. " non2xx=%d http5xx=%d first_bad=%d sock_connect=%d sock_read=%d sock_write=%d sock_timeout=%d\n",
		summary.requests, secs, summary.requests / secs,
		latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
		latency.max / 1000, n2, n5, bad, e.connect, e.read, e.write, e.timeout))
end

function bench_env_int(name, default)
	local v = tonumber(os.getenv(name) or "")
	if v == nil then return default end
	return math.floor(v)
end
