-- get.lua - wrk script for bench/run's API figures: GET PATH, where a
-- "{id}" in PATH is replaced by a run id drawn uniformly from 1..MAXID
-- per request (so GET /api/v1/runs/{id} reads rows all over a seeded
-- database, not one cached page).
--
--   wrk -s get.lua URL -- PATH [MAXID]
--
-- done() prints one line of key=value results for bench/run.

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

function init(args)
	path = args[1]
	maxid = tonumber(args[2] or "1")
	math.randomseed(os.time() + tid)
	templated = string.find(path, "{id}", 1, true) ~= nil
end

function request()
	local p = path
	if templated then
		p = string.gsub(path, "{id}", tostring(math.random(1, maxid)))
	end
	return wrk.format("GET", p)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("requests=%d duration_us=%d rps=%.1f " ..
	    "p50=%.3f p99=%.3f max=%.3f non2xx=%d connect=%d read=%d " ..
	    "write=%d timeout=%d\n",
	    summary.requests, summary.duration,
	    summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    latency.max / 1000, e.status, e.connect, e.read, e.write,
	    e.timeout))
end
