-- Technical indicators per bar (issue #20): one row per (symbol, interval, bar start) of the price-features topic, for
-- backtests. Each value is NULL until its indicator has enough bars. `version` is the version of the price-updates
-- record the features were computed from (header marketstream-source-version): a write applies when it is not older
-- than the row's, so a recomputation (a correction, a late bar, a new indicator definition) replaces the row and a stale
-- writer's older one does not. "Features of a symbol over a time range" reads the primary key (symbol, interval, ts).
CREATE TABLE IF NOT EXISTS price_features (
  symbol              text             NOT NULL,
  interval            text             NOT NULL,
  ts                  timestamptz      NOT NULL,
  bars                bigint           NOT NULL,
  close               double precision NOT NULL,
  definition          text             NOT NULL,
  sma                 double precision,
  ema_fast            double precision,
  ema_slow            double precision,
  macd                double precision,
  macd_signal         double precision,
  macd_histogram      double precision,
  rsi                 double precision,
  bollinger_upper     double precision,
  bollinger_middle    double precision,
  bollinger_lower     double precision,
  atr                 double precision,
  log_return          double precision,
  realized_volatility double precision,
  vwap                double precision,
  computed_at         timestamptz      NOT NULL,
  version             bigint,
  PRIMARY KEY (symbol, interval, ts)
);
