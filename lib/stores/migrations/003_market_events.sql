-- Market events: one row per event id (key of market-events). The postgres-sink writes the event columns; the
-- enrichment columns are written by the enricher once it has classified the event (an upsert that creates the row
-- if the sink has not yet), and the sink fills them from event_classifications when it (re)inserts a row whose
-- event is already classified (a rebuild). Both writes are idempotent upserts; a tombstone deletes the row.
CREATE TABLE IF NOT EXISTS market_events (
  id              text             PRIMARY KEY,
  symbols         text[]           NOT NULL,
  headline        text             NOT NULL,
  summary         text,
  source          text             NOT NULL,
  url             text,
  published_at    timestamptz      NOT NULL,
  category        text,
  ingested_at     timestamptz      NOT NULL,
  -- enrichment (null until the enricher classified the event)
  type            text,
  sentiment       text,
  sentiment_score double precision,
  rationale       text,
  classifier      text,
  model           text,
  enriched_at     timestamptz
);
-- "latest events", and "latest events about a symbol" (symbols @> ARRAY['AAPL']).
CREATE INDEX IF NOT EXISTS market_events_published_at ON market_events (published_at DESC);
CREATE INDEX IF NOT EXISTS market_events_symbols ON market_events USING gin (symbols);
