-- Enricher claims: before a member asks Claude about an event it claims the event id here, so that members handling
-- the same event at once (a rebalance, a stale member still working on a partition it lost) ask Claude once: the
-- others wait for the classification in event_classifications, and take the claim over once it has expired (its
-- holder died) or after ENRICHER_CLAIM_WAIT_MS. A claim is removed when its classification is stored or its holder
-- gives up; rows of members that died expire and are taken over or removed by the next claim of the id.
CREATE TABLE IF NOT EXISTS classification_claims (
  event_id   text        PRIMARY KEY,
  claimed_by text        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS classification_claims_expires ON classification_claims (expires_at);
