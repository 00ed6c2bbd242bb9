// Tracing off by default, and the trace id a correlation id gives (lib/tracing.ts).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { startTracing, tracingOn, traceIdOf } from '../../lib/tracing.ts';
import { testLogger } from '../helpers/index.ts';

describe('tracing', () => {
  it('is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: startTracing loads nothing and returns undefined', async () => {
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('');
    expect(await startTracing(config, 'test', testLogger('tracing'))).toBeUndefined();
    expect(tracingOn()).toBe(false);
  });

  it('rejects an endpoint that is not an http(s) URL', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('a UUID correlation id is its trace id (its 32 hex digits); any other string is hashed to 32 hex digits, deterministically', () => {
    expect(traceIdOf('0F8FAD5B-D9CB-469F-A165-70867728950E')).toBe('0f8fad5bd9cb469fa16570867728950e');
    const other = traceIdOf('backfill-2024-01-02');
    expect(other).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf('backfill-2024-01-02')).toBe(other);
    expect(traceIdOf('00000000-0000-0000-0000-000000000000')).not.toBe('0'.repeat(32)); // all zeros is an invalid trace id
  });
});
