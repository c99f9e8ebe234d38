-- 0003_outbox: commit statuses and notifications waiting to be sent, and
-- the last state of each run that was reported (so one transition is
-- queued once). A row leaves the outbox when the forge or the hook
-- accepted it, or when ferry gave up on it. Tokens are never stored:
-- the sender looks them up in the config when it sends.
-- IF NOT EXISTS: an operator may roll schema_migrations back by hand.

CREATE TABLE IF NOT EXISTS outbox (
	id		INTEGER PRIMARY KEY,
	kind		TEXT NOT NULL CHECK (kind IN ('status', 'notify')),
	provider	TEXT CHECK (provider IN ('github', 'gitlab')),
	run_id		INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	repo		TEXT NOT NULL,
	url		TEXT NOT NULL,
	body		TEXT NOT NULL,
	attempts	INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at	INTEGER NOT NULL,
	last_error	TEXT,
	created_at	INTEGER NOT NULL
);

-- the sender: what is due next, and the rows queued for one URL (sent
-- in order; a newer commit status replaces an unsent one)
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_url ON outbox (url);

CREATE TABLE IF NOT EXISTS run_reports (
	run_id		INTEGER PRIMARY KEY REFERENCES runs (id)
			ON DELETE CASCADE,
	state		TEXT NOT NULL
			CHECK (state IN ('running', 'succeeded', 'failed',
			    'cancelled', 'error')),
	updated_at	INTEGER NOT NULL
);
