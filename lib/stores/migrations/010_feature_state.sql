-- The features group's state (consumers/features/state.ts), one row per (group, symbol, interval) (group: the consumer
-- group id, so two features groups on one database, e.g. two environments' prefixes, never share a series): the indicator state before
-- the bars it holds (`base`, IndicatorSnapshot JSON), the newest record version it took (`version`: the offset in its
-- price-updates partition, `partition`), and the indicator definition it was computed with. The held bars are in feature_bars.
-- A batch locks its keys' rows (SELECT … FOR UPDATE), checks their versions against what the member holds in memory,
-- publishes the features, writes the rows and commits: two members never compute a key from different states, and a
-- member that lost the partition finds the version moved and reloads instead of publishing from a stale state.
CREATE TABLE IF NOT EXISTS feature_state (
  group_id   text        NOT NULL,
  symbol     text        NOT NULL,
  interval   text        NOT NULL,
  version    bigint      NOT NULL DEFAULT -1,
  partition  integer,
  definition text,
  base       jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, symbol, interval)
);
-- The bars each key holds (the last FEATURES_HISTORY_BARS and up to a quarter more), with the version that wrote them:
-- what a correction or a late bar inside that window is recomputed over.
CREATE TABLE IF NOT EXISTS feature_bars (
  group_id text             NOT NULL,
  symbol   text             NOT NULL,
  interval text             NOT NULL,
  ts       bigint           NOT NULL,
  open     double precision NOT NULL,
  high     double precision NOT NULL,
  low      double precision NOT NULL,
  close    double precision NOT NULL,
  volume   double precision NOT NULL,
  vwap     double precision,
  version  bigint           NOT NULL,
  PRIMARY KEY (group_id, symbol, interval, ts)
);
