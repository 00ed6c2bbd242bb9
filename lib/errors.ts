// One error hierarchy. The consumer runner decides from `retriable` alone:
// a retriable error pauses and retries the batch; a non-retriable one sends the record to the DLQ.
export class MarketstreamError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable;
  }
}

/** Bytes that cannot be decoded: bad magic byte, unknown schema id, corrupt Avro. */
export class DecodeError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('DECODE', message, { retriable: false, cause }); }
}

/** A decoded record that breaks a rule (OHLC relationships, whitelist, …). */
export class ValidationError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('VALIDATION', message, { retriable: false, cause }); }
}

/** A store or service that is down, slow or refusing for now: retry, never dead-letter. */
export class TransientError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('TRANSIENT', message, { retriable: true, cause }); }
}

/** Non-MarketstreamErrors thrown by drivers (ECONNREFUSED, timeouts) count as transient. */
export function isRetriable(err: unknown): boolean {
  return err instanceof MarketstreamError ? err.retriable : true;
}

export function errorClass(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
