-- post_contacts_idem.lua -- wrk script: post_contacts.lua with a unique Idempotency-Key per request
--
-- The same requests as post_contacts.lua (unique email, random seeded source), each with its own
-- key, so every request is a first use: the claim, the work and the stored answer in one
-- transaction (the cost of the header; a replay is cheaper than the work it replaces).
-- Environment: as post_contacts.lua.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/common.lua")

local src_min = bench_env_int("BENCH_SRC_MIN", 1)
local src_max = bench_env_int("BENCH_SRC_MAX", 20)
local tag = (os.getenv("BENCH_TAG") or "x"):lower():gsub("[^a-z0-9]", "")
local counter = 0

function init(args)
	bench_seed()
end

function request()
	counter = counter + 1
	local r = math.random(0, 999999)
	local body = string.format('{"email":"k%s-%d-%d-%d@bench.test","source_id":%d}',
		tag, tid, counter, r, math.random(src_min, src_max))
	local headers = {
		["Content-Type"] = "application/json",
		["Idempotency-Key"] = string.format("bench-%s-%d-%d-%d", tag, tid, counter, r),
	}
	return wrk.format("POST", "/api/contacts", headers, body)
end
