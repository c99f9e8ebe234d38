#!/usr/bin/python3
"""Trigger latency for bench/run: webhook received -> first step started.

  trigger.py --port P --secret S --body FILE --runs N [--repo R]
      [--step NAME] [--timeout SECONDS]

Sends N+1 signed GitHub pushes to 127.0.0.1:P one after another, each
with its own X-GitHub-Delivery, waiting for each run to end before the
next (an idle server, a warm mirror: the first run, which clones the
mirror, is a warm-up and is not counted). For each run it records

  ferry:  the first step's started_at minus the run's created_at, as
          ferry itself recorded them (milliseconds, from the API);
  client: from just before the POST was sent to the time the step's
          first command ran (its log's first line must be the output
          of `date +%s%3N`), both read from this machine's clock.

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
    a = ap.parse_args()
    body = open(a.body, "rb").read()
    sig = hmac.new(a.secret.encode(), body, hashlib.sha256).hexdigest()
    hook = Client(a.port)
    api = Client(a.port)
    ferry_ms, client_ms, bad = [], [], []
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
        ferry_ms.append(parse_ms(steps[0]["started_at"]) -
                        parse_ms(run["created_at"]))
        st, log = api.req("GET", "/api/v1/runs/%d/steps/%s/log" %
                          (run_id, a.step))
        try:
            ran = int(log.decode().split("\n", 1)[0].strip())
            client_ms.append(ran - t_send)
        except ValueError:
            pass
    print("runs=%d failed=%d ferry_p50=%.1f ferry_p99=%.1f ferry_max=%.1f "
          "client_p50=%.1f client_p99=%.1f client_max=%.1f" % (
              len(ferry_ms), len(bad), pct(ferry_ms, 50), pct(ferry_ms, 99),
              max(ferry_ms) if ferry_ms else float("nan"),
              pct(client_ms, 50), pct(client_ms, 99),
              max(client_ms) if client_ms else float("nan")))


if __name__ == "__main__":
    main()
