-- Enricher cache: one classification per market event id, so a replay never asks Claude again for a known event.
-- Rows written by the rule-based fallback (budget spent, API failing) carry fallback_reason; an explicit
-- re-enrich can select them (WHERE fallback_reason IS NOT NULL) and overwrite them.
CREATE TABLE IF NOT EXISTS event_classifications (
  event_id        text        PRIMARY KEY,
  classification  jsonb       NOT NULL,
  classifier      text        NOT NULL CHECK (classifier IN ('claude', 'rules')),
  model           text,
  fallback_reason text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_classifications_fallback ON event_classifications (created_at) WHERE fallback_reason IS NOT NULL;
