-- The Claude hourly budget, shared by every process that spends from it (the enricher group's members, wherever they
-- run, and `marketstream enrich reclassify`): tokens and USD per scope (the enricher's consumer group id) and minute.
--
-- - A call reserves its estimate when its request is about to be sent: claude_budget_reserve() locks the scope's row in
--   claude_budget_scopes, sums the last hour, and adds the estimate to the current minute only if it fits. The lock
--   serializes reservations of one scope across processes, and each statement of the function reads after the lock
--   was granted (PL/pgSQL takes a new snapshot per statement under READ COMMITTED), so two processes reserving at once
--   cannot both squeeze past the limit.
-- - When the answer arrives, the real usage replaces the estimate in the same minute row (an UPDATE by the difference);
--   a failed call takes its estimate back. A process that dies between the two leaves its estimate counted: the budget
--   errs on the side of spending less, and the estimate leaves the window within the hour.
-- - Rolling window: a minute row counts while any of its minute is within the window, so spending is counted for
--   60 to 61 minutes. Rows older than a day are deleted as new ones are written.
CREATE TABLE IF NOT EXISTS claude_budget_scopes (
  scope      text        PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS claude_budget_spend (
  scope    text             NOT NULL,
  minute   timestamptz      NOT NULL,
  -- estimates of calls in flight plus the real usage of finished calls
  tokens   bigint           NOT NULL DEFAULT 0,
  cost_usd double precision NOT NULL DEFAULT 0,
  -- requests the API answered (settled)
  calls    integer          NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, minute)
);
CREATE INDEX IF NOT EXISTS claude_budget_spend_minute ON claude_budget_spend (minute);

-- Reserves p_tokens / p_cost in the current minute of p_scope if the window's spending plus them stays within the limits
-- (a limit of 0 = none). p_at is the time (NULL = the database clock, the same for every process). Returns whether it
-- was granted, the minute row to settle, and the window's spending (after the reservation when granted).
CREATE OR REPLACE FUNCTION claude_budget_reserve(
  p_scope text, p_tokens bigint, p_cost double precision, p_token_limit bigint, p_cost_limit double precision,
  p_at timestamptz, p_window interval)
RETURNS TABLE (granted boolean, reserved_minute timestamptz, window_tokens bigint, window_cost double precision, oldest_minute timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_at     timestamptz := coalesce(p_at, clock_timestamp());
  v_minute timestamptz := date_trunc('minute', coalesce(p_at, clock_timestamp()));
  v_tokens bigint;
  v_cost   double precision;
  v_oldest timestamptz;
  v_new    boolean;
BEGIN
  PERFORM 1 FROM claude_budget_scopes b WHERE b.scope = p_scope FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO claude_budget_scopes (scope) VALUES (p_scope) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM claude_budget_scopes b WHERE b.scope = p_scope FOR UPDATE;
  END IF;

  SELECT coalesce(sum(s.tokens), 0)::bigint, coalesce(sum(s.cost_usd), 0), min(s.minute)
    INTO v_tokens, v_cost, v_oldest
    FROM claude_budget_spend s
   WHERE s.scope = p_scope AND s.minute > v_at - p_window - interval '1 minute';

  IF (p_token_limit > 0 AND v_tokens + p_tokens > p_token_limit) OR (p_cost_limit > 0 AND v_cost + p_cost > p_cost_limit) THEN
    RETURN QUERY SELECT false, v_minute, v_tokens, v_cost, v_oldest;
    RETURN;
  END IF;

  INSERT INTO claude_budget_spend AS s (scope, minute, tokens, cost_usd) VALUES (p_scope, v_minute, p_tokens, p_cost)
  ON CONFLICT (scope, minute) DO UPDATE SET tokens = s.tokens + EXCLUDED.tokens, cost_usd = s.cost_usd + EXCLUDED.cost_usd
  RETURNING (s.xmax = 0) INTO v_new;
  IF v_new THEN
    -- by the database clock, whatever clock the caller passed
    DELETE FROM claude_budget_spend s WHERE s.minute < clock_timestamp() - interval '1 day';
  END IF;

  RETURN QUERY SELECT true, v_minute, v_tokens + p_tokens, v_cost + p_cost, least(coalesce(v_oldest, v_minute), v_minute);
END
$$;
