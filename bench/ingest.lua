-- ingest.lua - wrk script for bench/run's ingest figure: a signed 7 KB
-- GitHub push, the same body (so the same X-Hub-Signature-256) with a
-- new X-GitHub-Delivery per request, so that every request is a new
-- delivery and a new run (a redelivery differs from the original by its
-- id only, so this is what a forge sends). Used unchanged against ferry
-- and the bare server.
--
--   wrk -s ingest.lua URL -- BODYFILE HEXSIG TAG
--
-- done() prints one line of key=value results for bench/run.

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

function init(args)
	local f = assert(io.open(args[1], "rb"))
	body = f:read("*a")
	f:close()
	tag = args[3] or "wrk"
	n = 0
	headers = {
		["Content-Type"] = "application/json",
		["User-Agent"] = "GitHub-Hookshot/ferry-bench",
		["X-GitHub-Event"] = "push",
		["X-Hub-Signature-256"] = "sha256=" .. args[2],
	}
end

function request()
	n = n + 1
	headers["X-GitHub-Delivery"] = tag .. "-" .. tid .. "-" .. n
	return wrk.format("POST", "/hooks/github", headers, body)
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
