-- get_operators.lua -- wrk script: GET /api/operators (the whole list; the seed has 40 operators)
-- Usage: wrk -t2 -c64 -d20s -s tests/bench/get_operators.lua http://127.0.0.1:8200
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/api/operators"
