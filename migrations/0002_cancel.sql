-- 0002_cancel: a cancel asked for while a run is running. A queued run
-- is cancelled at once; a running one is marked here and its worker,
-- which polls the mark, stops its steps and ends the run 'cancelled'.

ALTER TABLE runs ADD COLUMN cancel_requested_at INTEGER;
