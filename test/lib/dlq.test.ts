// DLQ header conventions: the failure and its origin are recorded, the original headers survive.
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../lib/errors.ts';
import { dlqHeaders, MAX_ERROR_MESSAGE } from '../../lib/dlq.ts';
import { standardHeaders } from '../../lib/record-headers.ts';

describe('dlq headers', () => {
  const now = new Date('2026-01-05T14:00:00.000Z');

  it('every record gets source, produced-at and a correlation id', () => {
    const h = standardHeaders({ source: 'synthetic' }, now);
    expect(h).toMatchObject({ source: 'synthetic', 'produced-at': '2026-01-05T14:00:00.000Z' });
    expect(h['correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(standardHeaders({ source: 'x', correlationId: 'run-1' })['correlation-id']).toBe('run-1');
  });

  it('a consumer-side DLQ record names the error, the original position, timestamp and group, and keeps the original headers', () => {
    const h = dlqHeaders({
      error: new DecodeError('unknown schema id 7'), topic: 'price-updates', now,
      origin: { topic: 'price-updates', partition: 3, offset: '42', group: 'marketstream-postgres-sink', timestamp: String(Date.UTC(2026, 0, 5, 13, 59, 1)) },
      original: { source: 'yahoo', 'produced-at': '2026-01-05T13:59:00.000Z', 'correlation-id': 'c1' },
    });
    expect(h).toEqual({
      source: 'yahoo', 'produced-at': '2026-01-05T13:59:00.000Z', 'correlation-id': 'c1',
      'error-class': 'DecodeError', 'error-message': 'unknown schema id 7',
      'original-topic': 'price-updates', 'original-partition': '3', 'original-offset': '42', 'original-timestamp': '2026-01-05T13:59:01.000Z',
      'consumer-group': 'marketstream-postgres-sink', 'failed-at': '2026-01-05T14:00:00.000Z',
    });
  });

  it('a producer-side DLQ record has no offsets, and long messages are cut', () => {
    const h = dlqHeaders({ error: new Error('x'.repeat(MAX_ERROR_MESSAGE + 10)), topic: 'price-updates', original: { source: 'synthetic' } });
    expect(h['original-topic']).toBe('price-updates');
    expect(h['original-offset']).toBeUndefined();
    expect(h['error-class']).toBe('Error');
    expect(h['error-message']).toHaveLength(MAX_ERROR_MESSAGE);
    expect(h.source).toBe('synthetic');
    expect(h['correlation-id']).toBeTruthy();
  });
});
