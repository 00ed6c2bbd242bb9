-- price-update version 2: volume-weighted average price and trade count of a bar, null when the source does not know
-- them (and for every bar written before version 2). Nullable without a default: adding them rewrites no rows.
ALTER TABLE price_data ADD COLUMN IF NOT EXISTS vwap double precision;
ALTER TABLE price_data ADD COLUMN IF NOT EXISTS trades bigint;
