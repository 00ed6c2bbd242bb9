-- Newest wins (issue #19): each row records the version of the record that wrote it (consumers/types.ts SinkRecord.version:
-- the Kafka offset of the record in its partition, or of the record a redriven dead letter restates), and a write
-- applies only when its version is greater. NULL = written before versions (or by a writer that has none): any
-- versioned write wins over it. Nullable without a default: adding them rewrites no rows.
ALTER TABLE price_data ADD COLUMN IF NOT EXISTS version bigint;
ALTER TABLE market_events ADD COLUMN IF NOT EXISTS version bigint;
-- A market-events tombstone leaves its version here, so it wins over every older upsert and an older upsert (a stale
-- writer, a redrive) never revives what it deleted; a newer upsert does, and removes the tombstone.
CREATE TABLE IF NOT EXISTS market_event_tombstones (
  id         text        PRIMARY KEY,
  version    bigint      NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);
