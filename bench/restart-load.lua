-- restart-load.lua - wrk script for bench/restart-load.sh: every request
-- PUTs a new key /load/D/K (K counts up per thread, threads interleave;
-- D = K mod 1000, so 1000 directories) with a 64-byte value.
local counter, step = 0, 1
local value = "value=" .. string.rep("v", 64)
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    step = tonumber(args[1]) or 1
    counter = id
end

function request()
    local k = counter
    counter = counter + step
    return wrk.format("PUT", string.format("/v2/keys/load/%03d/%08d", k % 1000, k),
                      headers, value)
end
