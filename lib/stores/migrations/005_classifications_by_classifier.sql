-- `marketstream enrich reclassify` selects cached classifications by who made them (the rule-based classifier, or a
-- Claude model other than the one now chosen) to ask Claude again.
CREATE INDEX IF NOT EXISTS event_classifications_classifier_model ON event_classifications (classifier, model);
