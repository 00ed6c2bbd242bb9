// Rules every contract shares: the ticker format (also the SYMBOLS variable's) and the earliest sane timestamp.

/** Ticker symbols: A-Z, 0-9, . ^ = -; 1-15 characters (AAPL, BRK.B, ^GSPC, EURUSD=X). */
export const SYMBOL_PATTERN = /^[A-Z0-9.^=-]{1,15}$/;

/** 1970-01-02: anything earlier is an unset (zero) or garbled timestamp. */
export const MIN_TIMESTAMP_MS = 86_400_000;
