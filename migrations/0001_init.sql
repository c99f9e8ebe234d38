-- 0001_init: repositories, runs (the queue), their steps and the webhook
-- deliveries seen. Times are UTC unix milliseconds; NULL means "not yet".
-- schema_migrations is created by the migrator itself, not here.

CREATE TABLE repos (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,
	provider	TEXT NOT NULL CHECK (provider IN ('github', 'gitlab')),
	branch		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);

CREATE TABLE runs (
	id		INTEGER PRIMARY KEY,
	repo_id		INTEGER NOT NULL REFERENCES repos (id),
	branch		TEXT NOT NULL,
	commit_sha	TEXT NOT NULL,
	message		TEXT,
	author		TEXT,
	pusher		TEXT,
	compare_url	TEXT,
	delivery_id	TEXT,
	"trigger"	TEXT NOT NULL DEFAULT 'push'
			CHECK ("trigger" IN ('push', 'manual', 'rerun')),
	status		TEXT NOT NULL DEFAULT 'queued'
			CHECK (status IN ('queued', 'running', 'succeeded',
			    'failed', 'cancelled', 'error')),
	reason		TEXT,
	attempts	INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	started_at	INTEGER,
	finished_at	INTEGER,
	source_token	TEXT
);

-- Every index below ends, implicitly, in the rowid (id), so an equality
-- on its columns yields rows already in id order: the keyset pages
-- (id < ? ORDER BY id DESC LIMIT n) and the queue scans never sort.

-- GET /api/v1/runs?repo=
CREATE INDEX runs_repo ON runs (repo_id);
-- GET /api/v1/runs?status=, and start-up recovery (status = 'running')
CREATE INDEX runs_status ON runs (status);
-- ?repo=&status=, and the queue: a repo's queued runs in arrival order
-- and its running count
CREATE INDEX runs_repo_status ON runs (repo_id, status);
-- the latest run of a repository on its production branch
CREATE INDEX runs_repo_branch ON runs (repo_id, branch);

CREATE TABLE deliveries (
	id		INTEGER PRIMARY KEY,
	provider	TEXT NOT NULL CHECK (provider IN ('github', 'gitlab')),
	delivery_id	TEXT NOT NULL,
	run_id		INTEGER NOT NULL REFERENCES runs (id),
	received_at	INTEGER NOT NULL,
	UNIQUE (provider, delivery_id)
);

CREATE TABLE steps (
	id		INTEGER PRIMARY KEY,
	run_id		INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx		INTEGER NOT NULL CHECK (idx >= 0),
	name		TEXT NOT NULL,
	status		TEXT NOT NULL DEFAULT 'pending'
			CHECK (status IN ('pending', 'running', 'succeeded',
			    'failed', 'skipped', 'cancelled', 'error')),
	exit_code	INTEGER,
	reason		TEXT,
	needs		TEXT NOT NULL DEFAULT '',
	deploy		INTEGER NOT NULL DEFAULT 0 CHECK (deploy IN (0, 1)),
	started_at	INTEGER,
	finished_at	INTEGER,
	UNIQUE (run_id, name),
	UNIQUE (run_id, idx)
);
