-- Short upload ids (issue 9): uploads.upload_id becomes our own id (22 base64url characters)
-- and R2's multipart id (~170 characters) moves to its own column, used only for R2 calls.
--
-- SQLite adds a NOT NULL column only with a constant default. Rebuilding the table instead
-- (create, copy, drop, rename) is not safe here: dropping `uploads` runs an implicit DELETE,
-- which ON DELETE CASCADE turns into deleting every part and chunk. So the column gets an
-- empty default, existing uploads keep R2's id as their id (their clients already hold it),
-- and two triggers refuse an empty R2 id, so no row can ever fall back on the default.
ALTER TABLE uploads ADD COLUMN r2_upload_id TEXT NOT NULL DEFAULT '';

UPDATE uploads SET r2_upload_id = upload_id;

CREATE TRIGGER uploads_r2_upload_id_on_insert BEFORE INSERT ON uploads
WHEN NEW.r2_upload_id = ''
BEGIN
  SELECT RAISE(ABORT, 'uploads.r2_upload_id is required');
END;

CREATE TRIGGER uploads_r2_upload_id_on_update BEFORE UPDATE OF r2_upload_id ON uploads
WHEN NEW.r2_upload_id = ''
BEGIN
  SELECT RAISE(ABORT, 'uploads.r2_upload_id is required');
END;
