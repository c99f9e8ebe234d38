#!/usr/bin/python3
"""The crash tests' sender, verdict and cluster watch (issue 7).

Shared by tests/integration/test_crash.sh (local executor) and
tests/integration/test_crash_kube.sh (Kubernetes executor against
tests/kube/kube_double.py), so both hold ferry to the same checks.

  crash_lib.py send PORT SECRET SHA GO OUT [--interval S]
      Signed GitHub pushes to acme/shop, one at a time, for as long as the
      file GO exists; every seventh request redelivers an earlier accepted
      delivery. Writes "send|redeliver ID STATUS RUN_ID DUPLICATE" per
      request to OUT, "-" for no answer (ferry was down or died
      mid-request).

  crash_lib.py verdict DB SENT [--kube WATCHED --ran RAN --ns-prefix P]
      Checks ferry's database against what the sender was answered:
      every delivery that got a 2xx has exactly one run (the one named in
      the answer), nothing extra, every run terminal. With --kube, also
      what the cluster saw (WATCHED, written by "watch") and what the
      steps' commands recorded (RAN): see kube_problems(). Prints
      "problem: ..." lines and "PROBLEMS N"; with --kube also "outcome
      problem: ..." lines and "OUTCOME_PROBLEMS N" (runs that ended
      badly though nothing in them could fail).

  crash_lib.py watch URL CA TOKEN_FILE OUT
      Follows the double's Jobs, Pods and Namespaces cluster wide (list,
      then watch with bookmarks, resuming from the last resourceVersion)
      and writes one line per event to OUT, until killed:
        EV TYPE KIND NAMESPACE NAME UID OWNER RV
        RV KIND RV          (bookmark)
        GAP KIND            (a 410: events may have been missed)

  crash_lib.py caught-up OUT RV
      Exit 0 when every kind's watch in OUT has reached RV.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import sqlite3
import ssl
import sys
import threading
import time
import urllib.parse

FINAL = ("succeeded", "failed", "cancelled", "error")
KINDS = {
    "job": "/apis/batch/v1/jobs",
    "pod": "/api/v1/pods",
    "namespace": "/api/v1/namespaces",
}
# What the runner writes when a step's task cannot be followed again
# after a restart (src/runner/runner.c, steps_resume()).
INTERRUPTED = "interrupted by server restart"


# --- send --------------------------------------------------------------------

def send(a):
    random.seed(7)
    log = open(a.out, "w", buffering=1)
    accepted = {}
    n = 0
    while os.path.exists(a.go):
        redeliver = n % 7 == 6 and accepted
        if redeliver:
            did = random.choice(sorted(accepted))
        else:
            did = "crash-%05d" % n
        body = json.dumps({
            "ref": "refs/heads/master", "before": "a" * 40, "after": a.sha,
            "repository": {"full_name": "acme/shop"},
            "pusher": {"name": "jane"},
            "head_commit": {"id": a.sha, "message": "push " + did,
                            "author": {"name": "Jane Doe"}}}).encode()
        sig = hmac.new(a.secret.encode(), body, hashlib.sha256).hexdigest()
        status, run, dup = "-", "-", "-"
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(a.port),
                                           timeout=10)
            c.request("POST", "/hooks/github", body, {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push", "X-GitHub-Delivery": did,
                "X-Hub-Signature-256": "sha256=" + sig})
            r = c.getresponse()
            status = str(r.status)
            d = json.loads(r.read() or b"{}")
            run = str(d.get("run_id", "-"))
            dup = "true" if d.get("duplicate") else "false"
            c.close()
        except (OSError, http.client.HTTPException, ValueError):
            pass
        if not redeliver and status.startswith("2"):
            accepted[did] = run
        log.write("%s %s %s %s %s\n" % ("redeliver" if redeliver else "send",
                                        did, status, run, dup))
        n += 1
        time.sleep(a.interval)


# --- verdict -----------------------------------------------------------------

def db_problems(c, sent):
    """The checks on ferry's database; returns (problems, summary lines)."""
    runs = {}
    for rid, did, status in c.execute(
            "select id, delivery_id, status from runs"):
        runs.setdefault(did, []).append((rid, status))
    accepted, redeliveries, problems = {}, [], []
    for line in open(sent):
        kind, did, status, run, dup = line.split()
        if kind == "send" and status.startswith("2"):
            accepted[did] = run
        elif kind == "redeliver":
            redeliveries.append((did, status, run, dup))
    for did, run in accepted.items():
        got = runs.get(did, [])
        if len(got) != 1:
            problems.append("delivery %s (run %s) has %d runs"
                            % (did, run, len(got)))
        elif str(got[0][0]) != run:
            problems.append("delivery %s: answered run %s, stored run %d"
                            % (did, run, got[0][0]))
    for did, status, run, dup in redeliveries:
        if status == "202":
            problems.append("redelivery of %s made a new run %s" % (did, run))
        elif status == "200" and (dup != "true" or run != accepted.get(did)):
            problems.append("redelivery of %s: run %s dup %s, want run %s"
                            % (did, run, dup, accepted.get(did)))
    for did, got in runs.items():
        if len(got) > 1:
            problems.append("delivery %s has %d runs" % (did, len(got)))
    sent_ids = set(l.split()[1] for l in open(sent))
    for did in runs:
        if did not in sent_ids:
            problems.append("run for a delivery never sent: %s" % did)
    nonfinal = [rid for v in runs.values() for rid, st in v
                if st not in FINAL]
    if nonfinal:
        problems.append("runs not in a terminal state: %s" % nonfinal[:10])
    d = c.execute("select count(*) from deliveries d left join runs r on "
                  "r.id = d.run_id where r.id is null").fetchone()[0]
    if d:
        problems.append("%d deliveries point to no run" % d)
    bad_steps = c.execute("select count(*) from steps s join runs r on "
                          "r.id = s.run_id where r.status = 'succeeded' and "
                          "s.status != 'succeeded'").fetchone()[0]
    if bad_steps:
        problems.append("%d steps of succeeded runs did not succeed"
                        % bad_steps)
    counts = dict(c.execute("select status, count(*) from runs "
                            "group by status"))
    summary = ["runs by status: %s" % counts,
               "accepted deliveries: %d redeliveries: %d"
               % (len(accepted), len(redeliveries))]
    return problems, summary


def read_watched(path):
    """Per kind: {uid: (ns, name, owner uid)}; and the gaps seen."""
    objs = {k: {} for k in KINDS}
    gaps = []
    for line in open(path):
        f = line.split()
        if f and f[0] == "EV" and len(f) == 8 and f[1] == "ADDED":
            objs[f[2]].setdefault(f[5], (f[3], f[4], f[6]))
        elif f and f[0] == "GAP":
            gaps.append(f[1])
    return objs, gaps


def kube_problems(c, watched, ran, prefix):
    """
    What the cluster saw, against the database. ferry's design (read in
    src/runner/runner.c and src/exec/kube.c): the store says a step is
    'running' before its Job is POSTed (step_start()); after a restart a
    'running' step is only followed again (kx_task_attach() GETs the Job,
    it never creates one), and a step whose Job does not exist ends as an
    error "interrupted by server restart"; a 'pending' step is started
    once. The Job's name is the step's name, so a second creation would
    be either adopted (same object) or a new uid after a delete. Hence
    the promise checked here: every step has at most one Job ever (one
    uid), with at most one pod (backoffLimit 0), and its commands ran at
    most once; a step that succeeded or failed had exactly one Job and
    ran exactly once; a step ended as "interrupted by server restart"
    never had a Job (else ferry lost a step it could have followed); no
    Job exists for a step or run the database does not know.

    Returned apart (outcomes): a run that did not succeed although its
    steps cannot fail (echo, sleep), unless a step of it was interrupted
    in that window; a step that failed or errored for another reason
    (such as its pod's source fetch refused while ferry was down).
    """
    objs, gaps = read_watched(watched)
    problems, outcomes = [], []
    for k in sorted(set(gaps)):
        problems.append("the test's watch of %ss had a 410 gap: events "
                        "may be missing" % k)
    jobs = {}
    for uid, (ns, name, _) in objs["job"].items():
        jobs.setdefault((ns, name), []).append(uid)
    pods = {}
    for uid, (ns, name, owner) in objs["pod"].items():
        pods.setdefault(owner, []).append(name)
    runs_ran = {}
    for line in open(ran):
        f = line.split()
        if len(f) == 2:
            runs_ran[(f[0], f[1])] = runs_ran.get((f[0], f[1]), 0) + 1
    steps = {}
    for rid, name, status, reason in c.execute(
            "select run_id, name, status, reason from steps"):
        steps[(prefix + str(rid), name)] = (rid, status, reason or "")
    nsteps = {"succeeded": 0, "failed": 0, "error": 0, "other": 0}
    for key, (rid, status, reason) in sorted(steps.items()):
        uids = jobs.get(key, [])
        nran = runs_ran.get((str(rid), key[1]), 0)
        nsteps[status if status in nsteps else "other"] += 1
        if len(uids) > 1:
            problems.append("run %d step %s: %d Jobs created (uids %s)"
                            % (rid, key[1], len(uids), " ".join(uids)))
        for u in uids:
            if len(pods.get(u, [])) > 1:
                problems.append("run %d step %s: Job %s has %d pods: %s"
                                % (rid, key[1], u, len(pods[u]),
                                   " ".join(pods[u])))
        if nran > 1:
            problems.append("run %d step %s: its commands ran %d times"
                            % (rid, key[1], nran))
        if status in ("succeeded", "failed"):
            if len(uids) != 1 or nran != 1:
                problems.append("run %d step %s %s: %d Job(s), ran %d "
                                "time(s)" % (rid, key[1], status,
                                             len(uids), nran))
        elif status == "error" and reason == INTERRUPTED and uids:
            problems.append("run %d step %s: ended as '%s' but its Job "
                            "%s existed" % (rid, key[1], reason, uids[0]))
        elif status in ("pending", "running", "cancelled") and nran:
            problems.append("run %d step %s %s: but its commands ran"
                            % (rid, key[1], status))
    for rid, status, reason in c.execute(
            "select id, status, reason from runs where status in "
            "('failed', 'error', 'cancelled') order by id"):
        if not any(k[0] == prefix + str(rid) and v[1] == "error" and
                   v[2] == INTERRUPTED for k, v in steps.items()):
            outcomes.append("run %d %s: %s (its steps cannot fail, and "
                            "no step of it was interrupted)"
                            % (rid, status, reason))
    for key, (rid, status, reason) in sorted(steps.items()):
        if status in ("failed", "error") and reason != INTERRUPTED:
            outcomes.append("run %d step %s %s: %s"
                            % (rid, key[1], status, reason))
    for (ns, name), uids in sorted(jobs.items()):
        if ns.startswith(prefix) and (ns, name) not in steps:
            problems.append("Job %s/%s for no step of the database"
                            % (ns, name))
    summary = ["steps by status: %s" % nsteps,
               "cluster: %d namespaces, %d Jobs, %d pods seen"
               % (len(objs["namespace"]), len(objs["job"]),
                  len(objs["pod"]))]
    for rid, status, reason in c.execute(
            "select id, status, reason from runs where status != "
            "'succeeded' order by id"):
        summary.append("run %d %s: %s" % (rid, status, reason))
    return problems, outcomes, summary


def verdict(a):
    c = sqlite3.connect(a.db)
    problems, summary = db_problems(c, a.sent)
    outcomes = []
    if a.kube:
        p, outcomes, s = kube_problems(c, a.kube, a.ran, a.ns_prefix)
        problems += p
        summary += s
    for line in summary:
        print(line)
    for p in problems[:20]:
        print("problem:", p)
    for p in outcomes[:20]:
        print("outcome problem:", p)
    print("PROBLEMS", len(problems))
    if a.kube:
        print("OUTCOME_PROBLEMS", len(outcomes))


# --- watch -------------------------------------------------------------------

class Watcher:
    def __init__(self, url, ca, token, out):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = open(token).read().strip()
        self.out = open(out, "w", buffering=1)
        self.lock = threading.Lock()

    def emit(self, *f):
        with self.lock:
            self.out.write(" ".join(str(x) for x in f) + "\n")

    def get(self, path, timeout):
        c = http.client.HTTPSConnection(self.host, self.port,
                                        context=self.ctx, timeout=timeout)
        c.request("GET", path, headers={
            "Authorization": "Bearer " + self.token})
        r = c.getresponse()
        return c, r

    def event(self, kind, etype, o, rv):
        m = o.get("metadata") or {}
        owner = "-"
        for ref in m.get("ownerReferences") or []:
            if ref.get("controller"):
                owner = ref.get("uid", "-")
        self.emit("EV", etype, kind, m.get("namespace") or "-",
                  m.get("name", "-"), m.get("uid", "-"), owner, rv)

    def follow(self, kind):
        path = KINDS[kind]
        rv = None
        while True:
            try:
                if rv is None:
                    c, r = self.get(path, 30)
                    d = json.loads(r.read())
                    c.close()
                    if r.status != 200:
                        raise OSError("list %s: %d" % (kind, r.status))
                    rv = d["metadata"]["resourceVersion"]
                    for o in d.get("items") or []:
                        self.event(kind, "ADDED", o, rv)
                    self.emit("RV", kind, rv)
                c, r = self.get("%s?watch=true&allowWatchBookmarks=true"
                                "&resourceVersion=%s" % (path, rv), 600)
                while True:
                    line = r.readline()
                    if not line:
                        break
                    e = json.loads(line)
                    o = e.get("object") or {}
                    if e.get("type") == "ERROR":
                        if o.get("code") == 410:
                            self.emit("GAP", kind)
                            rv = None
                        break
                    nrv = (o.get("metadata") or {}).get("resourceVersion")
                    if e.get("type") != "BOOKMARK":
                        self.event(kind, e.get("type"), o, nrv)
                    if nrv:
                        rv = nrv
                        self.emit("RV", kind, rv)
                c.close()
            except (OSError, http.client.HTTPException, ValueError,
                    KeyError):
                time.sleep(0.2)


def watch(a):
    w = Watcher(a.url, a.ca, a.token_file, a.out)
    for kind in KINDS:
        threading.Thread(target=w.follow, args=(kind,), daemon=True).start()
    while True:
        time.sleep(3600)


def caught_up(a):
    last = {}
    for line in open(a.out):
        f = line.split()
        if len(f) == 3 and f[0] == "RV":
            last[f[1]] = max(last.get(f[1], 0), int(f[2]))
    ok = all(last.get(k, 0) >= int(a.rv) for k in KINDS)
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    for n in ("port", "secret", "sha", "go", "out"):
        p.add_argument(n)
    p.add_argument("--interval", type=float, default=0.02)
    p.set_defaults(fn=send)
    p = sub.add_parser("verdict")
    p.add_argument("db")
    p.add_argument("sent")
    p.add_argument("--kube")
    p.add_argument("--ran")
    p.add_argument("--ns-prefix", default="ferry-acme-shop-")
    p.set_defaults(fn=verdict)
    p = sub.add_parser("watch")
    for n in ("url", "ca", "token_file", "out"):
        p.add_argument(n)
    p.set_defaults(fn=watch)
    p = sub.add_parser("caught-up")
    p.add_argument("out")
    p.add_argument("rv")
    p.set_defaults(fn=caught_up)
    a = ap.parse_args()
    if a.cmd == "verdict" and a.kube and not a.ran:
        ap.error("--kube needs --ran")
    a.fn(a)


if __name__ == "__main__":
    main()
