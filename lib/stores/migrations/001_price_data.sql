-- Price history: one row per (symbol, interval, bar start). Upserts keyed on the primary key make replay a no-op.
CREATE TABLE IF NOT EXISTS price_data (
  symbol       text             NOT NULL,
  interval     text             NOT NULL,
  ts           timestamptz      NOT NULL,
  open         double precision NOT NULL,
  high         double precision NOT NULL,
  low          double precision NOT NULL,
  close        double precision NOT NULL,
  volume       double precision NOT NULL,
  source       text             NOT NULL,
  quality      double precision NOT NULL DEFAULT 1,
  ingested_at  timestamptz      NOT NULL,
  PRIMARY KEY (symbol, interval, ts)
);
-- "last N bars of a symbol" and time-range scans are served by the primary key (symbol, interval, ts) read backwards;
-- this one serves cross-symbol time-range scans (e.g. the correlation analyzer's daily closes over a window).
CREATE INDEX IF NOT EXISTS price_data_interval_ts ON price_data (interval, ts);
