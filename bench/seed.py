#!/usr/bin/python3
"""Seeds a ferry database with finished runs, for bench/run's API figures.

  seed.py DB [--runs N] [--steps K] [--repos a/b,c/d]

DB must have been created by `ferry migrate` (the real schema in
migrations/); this adds repositories (if missing), N runs spread over
them (newest last, one a minute apart, statuses mostly succeeded with
some failed, cancelled and error), K steps per run and one webhook
delivery per run, in one transaction, with SQLite's own recursive CTEs
so that a million runs take seconds. No run is left queued or running,
so a ferry started on the database has nothing to execute.
"""
import argparse
import sqlite3
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--runs", type=int, default=1000000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repos", default="acme/shop,acme/api,acme/web")
    a = ap.parse_args()
    repos = a.repos.split(",")
    t0 = time.monotonic()
    db = sqlite3.connect(a.db, isolation_level=None)
    ver = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
    if ver is None or ver[0] is None:
        sys.exit("seed.py: %s has no schema_migrations: run ferry migrate"
                 % a.db)
    if db.execute("SELECT count(*) FROM runs").fetchone()[0] != 0:
        sys.exit("seed.py: %s already has runs" % a.db)
    # The bulk load needs no WAL: it is one transaction into a database
    # nobody else has open; ferry turns WAL back on when it opens it
    # (and so does the end of this script).
    db.execute("PRAGMA journal_mode = MEMORY")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    now_ms = int(time.time() * 1000)
    first = now_ms - a.runs * 60000
    db.execute("BEGIN")
    for r in repos:
        db.execute("INSERT INTO repos (name, provider, branch, created_at)"
                   " VALUES (?, 'github', 'master', ?)"
                   " ON CONFLICT (name) DO NOTHING", (r, first))
    ids = [row[0] for row in db.execute(
        "SELECT id FROM repos WHERE name IN (%s) ORDER BY id"
        % ",".join("?" * len(repos)), repos)]
    db.execute("CREATE TEMP TABLE seed_repos (k INTEGER PRIMARY KEY, id)")
    db.executemany("INSERT INTO seed_repos VALUES (?, ?)", enumerate(ids))
    nrepos = len(ids)
    # Run x (1..N): created a minute after x-1, ran for 20-80 s.
    db.execute("""
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL
                                SELECT x + 1 FROM c WHERE x < ?1)
        INSERT INTO runs (id, repo_id, branch, commit_sha, message, author,
            pusher, compare_url, delivery_id, "trigger", status, reason,
            attempts, created_at, started_at, finished_at)
        SELECT x, (SELECT id FROM seed_repos WHERE k = x % ?2), 'master',
            printf('%040x', x * 2654435761),
            'Seeded commit ' || x || char(10) || char(10) ||
                'A body line that makes the message look real.',
            'Jane Doe', 'jane',
            'https://github.com/acme/shop/compare/' || printf('%012x', x),
            printf('seed-%09d', x), 'push',
            CASE WHEN x % 23 = 0 THEN 'failed'
                 WHEN x % 97 = 0 THEN 'cancelled'
                 WHEN x % 101 = 0 THEN 'error'
                 ELSE 'succeeded' END,
            CASE WHEN x % 23 = 0 THEN 'step test exited with 2'
                 WHEN x % 97 = 0 THEN 'cancelled by api'
                 WHEN x % 101 = 0 THEN 'cannot fetch source'
                 ELSE NULL END,
            1, ?3 + x * 60000, ?3 + x * 60000 + 40,
            ?3 + x * 60000 + 20000 + (x % 7) * 10000
        FROM c""", (a.runs, nrepos, first))
    db.execute("""
        INSERT INTO deliveries (provider, delivery_id, run_id, received_at)
        SELECT 'github', delivery_id, id, created_at FROM runs""")
    names = ["build", "test", "deploy", "lint", "package", "publish"]
    for k in range(a.steps):
        db.execute("""
            INSERT INTO steps (run_id, idx, name, status, exit_code,
                needs, started_at, finished_at)
            SELECT id, ?1, ?2,
                CASE WHEN status = 'succeeded' THEN 'succeeded'
                     WHEN status = 'failed' AND ?1 = 1 THEN 'failed'
                     WHEN status = 'failed' AND ?1 < 1 THEN 'succeeded'
                     ELSE 'skipped' END,
                CASE WHEN status = 'succeeded' THEN 0
                     WHEN status = 'failed' AND ?1 = 1 THEN 2
                     WHEN status = 'failed' AND ?1 < 1 THEN 0
                     ELSE NULL END,
                '', started_at + ?1 * 5000, started_at + ?1 * 5000 + 4000
            FROM runs""", (k, names[k % len(names)] +
                           ("" if k < len(names) else str(k))))
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")
    n = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    db.close()
    print("seeded %d runs, %d steps each, over %d repos in %.1f s"
          % (n, a.steps, nrepos, time.monotonic() - t0))


if __name__ == "__main__":
    main()
