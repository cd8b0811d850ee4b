-- Per-key limits on open uploads (issue 10): each upload records which API key opened it
-- ("anonymous" where anonymous access is on; NULL for uploads made before this migration, which
-- count against no key). The partial index covers exactly what the limit counts.
ALTER TABLE uploads ADD COLUMN owner TEXT;

CREATE INDEX uploads_open_by_owner ON uploads (owner, mode) WHERE state IN ('open', 'completing');
