#!/usr/bin/python3
"""Trigger latency for bench/run: webhook received -> first step started
(any executor) and, on Kubernetes, -> first Job POSTed.

  trigger.py --port P --secret S --body FILE --runs N [--repo R]
      [--step NAME] [--timeout SECONDS] [--kube-log FILE]

Sends N+1 signed GitHub pushes to 127.0.0.1:P one after another, each
with its own X-GitHub-Delivery, waiting for each run to end before the
next (an idle server, a warm mirror: the first run, which clones the
mirror, is a warm-up and is not counted). For each run it records

  ferry:  the first step's started_at minus the run's created_at, as
          ferry itself recorded them (milliseconds, from the API);
  client: from just before the POST was sent to the time the step's
          first command ran (its log's first line must be the output
          of `date +%s%3N`), both read from this machine's clock.

With --kube-log FILE, the request log of the Kubernetes API double
(tests/kube/kube_double.py --request-log FILE: one JSON line per mutating
request, with its arrival time in ms since the epoch), it also records,
from the first POST of a Job carrying the label ferry.dev/run=<the run's
id> (or, without labels, into a namespace ending in -<id>):

  job_ferry:  that arrival time minus the run's created_at;
  job_client: that arrival time minus the time just before the webhook
              POST was sent (the same machine's clock);
  first_api:  the arrival of the run's first POST (its namespace) minus
              the run's created_at: what of job_ferry is ferry's own
              dispatch rather than the API calls before the Job.

Prints one line of key=value results. Bounded: each run gets at most
--timeout seconds (10), the whole at most N * that.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import sys
import time
from datetime import datetime


def parse_ms(s):
    # 2026-11-26T12:00:00.123Z -> unix ms (UTC)
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    epoch = datetime(1970, 1, 1)
    return int((dt - epoch).total_seconds() * 1000)


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    i = min(len(v) - 1, int(p / 100.0 * len(v)))
    return v[i]


class KubeLog:
    """Reads the double's request log as it grows."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.part = b""
        self.jobs = {}          # run id -> arrival ms of its first Job POST
        self.first = {}         # run id -> arrival ms of its first POST

    def poll(self):
        data = self.part + self.f.read()
        lines = data.split(b"\n")
        self.part = lines.pop()
        for line in lines:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("method") != "POST":
                continue
            run = (r.get("labels") or {}).get("ferry.dev/run")
            if run is None and r.get("namespace"):
                run = r["namespace"].rsplit("-", 1)[-1]
            try:
                run = int(run)
            except (TypeError, ValueError):
                continue
            self.first.setdefault(run, float(r["time_ms"]))
            if r.get("path", "").endswith("/jobs"):
                self.jobs.setdefault(run, float(r["time_ms"]))

    def job_posted(self, run_id, wait):
        """The arrival ms of run_id's first POST and of its first Job
        POST, or None."""
        deadline = time.monotonic() + wait
        while True:
            self.poll()
            if run_id in self.jobs or time.monotonic() >= deadline:
                return self.first.get(run_id), self.jobs.get(run_id)
            time.sleep(0.01)


class Client:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            try:
                self.c.request(method, path, body=body,
                               headers=headers or {})
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port,
                                                    timeout=10)
                if attempt:
                    raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--step", default="stamp")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--tag", default="trig-%d" % int(time.time()))
    ap.add_argument("--kube-log", help="the Kubernetes double's "
                    "--request-log file")
    a = ap.parse_args()
    klog = KubeLog(a.kube_log) if a.kube_log else None
    body = open(a.body, "rb").read()
    sig = hmac.new(a.secret.encode(), body, hashlib.sha256).hexdigest()
    hook = Client(a.port)
    api = Client(a.port)
    ferry_ms, client_ms, bad = [], [], []
    job_ferry_ms, job_client_ms, first_ms, no_job = [], [], [], []
    for i in range(a.runs + 1):
        headers = {"Content-Type": "application/json",
                   "X-GitHub-Event": "push",
                   "X-GitHub-Delivery": "%s-%d" % (a.tag, i),
                   "X-Hub-Signature-256": "sha256=" + sig}
        t_send = time.time() * 1000.0
        st, out = hook.req("POST", "/hooks/github", body, headers)
        if st != 202:
            sys.exit("trigger.py: push %d answered %d: %r" % (i, st, out))
        run_id = json.loads(out)["run_id"]
        deadline = time.monotonic() + a.timeout
        run = None
        while time.monotonic() < deadline:
            st, out = api.req("GET", "/api/v1/runs/%d" % run_id)
            run = json.loads(out)
            if run["status"] not in ("queued", "running"):
                break
            time.sleep(0.01)
        else:
            sys.exit("trigger.py: run %d did not end in %.0f s" %
                     (run_id, a.timeout))
        steps = run.get("steps") or []
        if run["status"] != "succeeded" or not steps or \
                not steps[0].get("started_at"):
            bad.append(run_id)
            if i == 0:
                sys.exit("trigger.py: warm-up run %d ended %s: %s" %
                         (run_id, run["status"], run.get("reason")))
            continue
        if i == 0:
            continue
        if klog is not None:
            first, posted = klog.job_posted(run_id, 2.0)
            if posted is None:
                no_job.append(run_id)
            else:
                created = parse_ms(run["created_at"])
                job_ferry_ms.append(posted - created)
                job_client_ms.append(posted - t_send)
                first_ms.append(first - created)
        ferry_ms.append(parse_ms(steps[0]["started_at"]) -
                        parse_ms(run["created_at"]))
        st, log = api.req("GET", "/api/v1/runs/%d/steps/%s/log" %
                          (run_id, a.step))
        try:
            ran = int(log.decode().split("\n", 1)[0].strip())
            client_ms.append(ran - t_send)
        except ValueError:
            pass
    out = ("runs=%d failed=%d ferry_p50=%.1f ferry_p99=%.1f ferry_max=%.1f "
           "client_p50=%.1f client_p99=%.1f client_max=%.1f" % (
               len(ferry_ms), len(bad), pct(ferry_ms, 50), pct(ferry_ms, 99),
               max(ferry_ms) if ferry_ms else float("nan"),
               pct(client_ms, 50), pct(client_ms, 99),
               max(client_ms) if client_ms else float("nan")))
    if klog is not None:
        out += (" job_runs=%d job_missing=%d job_ferry_p50=%.1f "
                "job_ferry_p99=%.1f job_ferry_max=%.1f job_client_p50=%.1f "
                "job_client_p99=%.1f job_client_max=%.1f" % (
                    len(job_ferry_ms), len(no_job), pct(job_ferry_ms, 50),
                    pct(job_ferry_ms, 99),
                    max(job_ferry_ms) if job_ferry_ms else float("nan"),
                    pct(job_client_ms, 50), pct(job_client_ms, 99),
                    max(job_client_ms) if job_client_ms else float("nan")))
        out += " first_api_p50=%.1f first_api_p99=%.1f" % (
            pct(first_ms, 50), pct(first_ms, 99))
    print(out)


if __name__ == "__main__":
    main()
