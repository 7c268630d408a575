-- post_contacts.lua -- wrk script: POST /api/contacts with a unique email and a random seeded source
--
-- Environment: BENCH_SRC_MIN, BENCH_SRC_MAX (source id range), BENCH_TAG (run tag, keeps emails of
-- different runs apart). Emails: w<tag>-<thread>-<counter>-<random>@bench.test, unique per request.
-- With the global BENCH_WITH_KEY set (post_contacts_idem.lua), each request also carries its own
-- Idempotency-Key.
-- Usage: wrk -t2 -c64 -d20s -s tests/bench/post_contacts.lua http://127.0.0.1:8200
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/common.lua")

local src_min = bench_env_int("BENCH_SRC_MIN", 1)
local src_max = bench_env_int("BENCH_SRC_MAX", 20)
local tag = (os.getenv("BENCH_TAG") or "x"):lower():gsub("[^a-z0-9]", "")
local headers = bench_auth({ ["Content-Type"] = "application/json" })
local counter = 0

function init(args)
	bench_seed()
end

function request()
	counter = counter + 1
	local r = math.random(0, 999999)
	local body = string.format('{"email":"w%s-%d-%d-%d@bench.test","source_id":%d}',
		tag, tid, counter, r, math.random(src_min, src_max))
	if BENCH_WITH_KEY then
		headers["Idempotency-Key"] = string.format("bench-%s-%d-%d-%d", tag, tid, counter, r)
	end
	return wrk.format("POST", "/api/contacts", headers, body)
end
