-- Dead letters (issue 14): messages that used up their retries on the pipeline's queue land in
-- its dead-letter queue; the consumer reads that queue and keeps each message here, so an
-- operator can list, replay or discard it. A new table only: safe while both Workers still run
-- the code before it.
--
-- message_id is the queue's id of the dead message; the dead-letter queue keeps it, so a dead
-- message delivered twice (at least once, like every delivery) updates its row instead of
-- adding one. `attempts` counts those deliveries to the dead-letter consumer.
--
-- state: dead (stored, nothing done yet) -> replaying (a replay holds the claim while it puts the
-- body back on the queue) -> replayed; or discarded. A replay whose Worker died in between leaves
-- `replaying` with an old replay_started_at, which the next replay takes over.
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  -- The message body as JSON text, exactly what a replay sends again.
  body TEXT NOT NULL,
  -- body.type, when the body has one (part.uploaded, webhook.deliver, ...).
  message_type TEXT,
  -- The upload the message concerns and its object key, when the body names them.
  upload_id TEXT,
  object_key TEXT,
  attempts INTEGER NOT NULL DEFAULT 1,
  -- Epoch ms: when the message was first sent, and when the dead-letter consumer first and
  -- last received it.
  sent_at INTEGER,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'replaying', 'replayed', 'discarded')),
  replay_claim TEXT,
  replay_started_at INTEGER,
  replayed_at INTEGER,
  discarded_at INTEGER
);
-- GET /dead-letters: newest first by keyset (first_seen_at, id), all states or one.
CREATE INDEX dead_letters_by_seen ON dead_letters (first_seen_at, id);
CREATE INDEX dead_letters_by_state_seen ON dead_letters (state, first_seen_at, id);
-- The dead letters of one upload (its status, the retention of its rows).
CREATE INDEX dead_letters_by_upload ON dead_letters (upload_id) WHERE upload_id IS NOT NULL;
