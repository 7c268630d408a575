-- get_contact.lua -- wrk script: GET /api/contacts/{id} for random existing ids
-- Environment: BENCH_ID_MIN, BENCH_ID_MAX (contact id range; ids are dense, any 404 counts as an error)
-- Usage: wrk -t2 -c64 -d20s -s tests/bench/get_contact.lua http://127.0.0.1:8200
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/common.lua")

local id_min = bench_env_int("BENCH_ID_MIN", 1)
local id_max = bench_env_int("BENCH_ID_MAX", 1)

function init(args)
	bench_seed()
end

function request()
	return wrk.format("GET", "/api/contacts/" .. math.random(id_min, id_max))
end
