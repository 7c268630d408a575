-- post_contacts_idem.lua -- wrk script: post_contacts.lua with a unique Idempotency-Key per request
--
-- The same requests as post_contacts.lua (unique email, random seeded source), each with its own
-- key, so every request is a first use: the claim, the work and the stored answer in one
-- transaction (the cost of the header; a replay is cheaper than the work it replaces).
-- Environment: as post_contacts.lua.
BENCH_WITH_KEY = true
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/post_contacts.lua")
