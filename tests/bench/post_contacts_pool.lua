-- post_contacts_pool.lua -- wrk script: POST /api/contacts for returning leads
--
-- post_contacts.lua with the emails drawn from a pool of BENCH_POOL (default 2000) addresses per
-- run tag, so most requests are a lead that came before (tests/bench/modes: the sticky path of a
-- source with sticky_window_seconds, and its weighted-random baseline with the same pool).
-- Environment: as post_contacts.lua, plus BENCH_POOL.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/common.lua")

local src_min = bench_env_int("BENCH_SRC_MIN", 1)
local src_max = bench_env_int("BENCH_SRC_MAX", 20)
local pool = bench_env_int("BENCH_POOL", 2000)
local tag = (os.getenv("BENCH_TAG") or "x"):lower():gsub("[^a-z0-9]", "")
local headers = bench_auth({ ["Content-Type"] = "application/json" })

function init(args)
	bench_seed()
end

function request()
	local body = string.format('{"email":"pool%s-%d@bench.test","source_id":%d}',
		tag, math.random(1, pool), math.random(src_min, src_max))
	return wrk.format("POST", "/api/contacts", headers, body)
end
