-- Bar revisions (issue #22): whether a bar is final and whether its prices are split-adjusted travel in the record
-- (price-update version 3) and are kept beside the bar; nullable without a default (old rows: not said).
ALTER TABLE price_data ADD COLUMN IF NOT EXISTS final boolean;
ALTER TABLE price_data ADD COLUMN IF NOT EXISTS adjusted boolean;
-- The history of a bar published again with other values (a correction, Yahoo's revised last minute, a provisional bar
-- updated before it closed), written by postgres-sink in the transaction of its price_data merge
-- (consumers/postgres/copy-merge.ts): one row per record (version = its offset in `partition`) whose values differ from
-- the revision before it, and that revision too, so a bar revised once has both. Bars never revised have no rows here.
-- Keyed by the version: a replay writes nothing twice.
CREATE TABLE IF NOT EXISTS price_revisions (
  symbol      text             NOT NULL,
  interval    text             NOT NULL,
  ts          timestamptz      NOT NULL,
  version     bigint           NOT NULL,
  -- The partition of the record, and when the sink wrote this revision; NULL for the revision copied from price_data
  -- when the first change arrived (the sink does not know when that one was written).
  partition   integer,
  written_at  timestamptz,
  open        double precision NOT NULL,
  high        double precision NOT NULL,
  low         double precision NOT NULL,
  close       double precision NOT NULL,
  volume      double precision NOT NULL,
  source      text             NOT NULL,
  quality     double precision NOT NULL,
  ingested_at timestamptz      NOT NULL,
  vwap        double precision,
  trades      bigint,
  final       boolean,
  adjusted    boolean,
  -- The fields that differ from the revision before (empty: the first revision known of the bar).
  changed     text[]           NOT NULL,
  PRIMARY KEY (symbol, interval, ts, version)
);
