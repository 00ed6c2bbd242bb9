// Traces across the pipeline, collected by a local OTLP/HTTP receiver (JSON, what @opentelemetry/exporter-trace-otlp-http
// sends): a bar published with tracing on and written by postgres-sink (isolated topics) makes one trace, whose trace id
// is the record's correlation id, from the producer's send span to the sink's write span and its PostgreSQL queries.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { RecordHeaders } from '../../lib/record-headers.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createClaudeClient } from '../../lib/claude/index.ts';
import { inStoreWriteSpan, startTracing, traceIdOf, type Tracing } from '../../lib/tracing.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { fakeClaudeOptions, startFakeAnthropic, toolUseResponse } from '../helpers/fake-anthropic.ts';
import { bar, consumeMessages, deleteTestTopics, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';

interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
  links?: { traceId: string; spanId: string }[];
}

/** A local OTLP/HTTP receiver: every span POSTed to /v1/traces, with the service.name of its resource. */
function otlpReceiver() {
  const spans: (OtlpSpan & { service: string })[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, paths };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v && Object.values(v)[0];
};

describe('traces across the pipeline (OTLP receiver on loopback)', () => {
  const receiver = otlpReceiver();
  const logger = testLogger('tracing-test');
  const topic = withName(priceUpdates, randomName('test-traces-prices'));
  const symbol = randomSymbol();
  let tracing: Tracing | undefined;
  let sinks: RunningSinks | undefined;
  let publisher: Publisher | undefined;
  let config: ReturnType<typeof testConfig>;

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.server.address() as AddressInfo;
    config = testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, KAFKA_GROUP_PREFIX: randomName('test-traces') });
    // Producer and sink share this process (and so its tracer); a trace across two processes is the same headers' work.
    tracing = await startTracing(config, 'test', logger);
    const kafka = createKafka(config, logger, 'tracing-test');
    await ensureTopics(kafka, config, [topic]);
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    sinks = await startSinks({ config, logger, names: ['postgres'], topics: { prices: topic } });
  });

  afterAll(async () => {
    await sinks?.stop();
    await publisher?.disconnect();
    await tracing?.shutdown();
    const pool = createPgPool(config, { max: 1 });
    await pool.query('DELETE FROM price_data WHERE symbol = $1', [symbol]).finally(() => pool.end());
    await deleteTestTopics(createKafka(config, logger, 'tracing-cleanup'), [topic.name, topic.dlq]);
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('one bar: send span (trace id = correlation id) → write postgres-sink span → pg query spans, all in one trace', async () => {
    expect(tracing).toBeDefined();
    const correlationId = crypto.randomUUID();
    await publisher!.send(topic, [bar(symbol, 0, 100)], { source: 'test', correlationId });
    const traceId = traceIdOf(correlationId);
    expect(traceId).toBe(correlationId.replaceAll('-', ''));

    // The record carries the producer span's traceparent, in the correlation id's trace.
    const [record] = await consumeMessages(createKafka(config, logger, 'tracing-read'), topic.name, 1);
    const traceparent = record!.headers?.[RecordHeaders.traceparent]?.toString();
    expect(traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(record!.headers?.[RecordHeaders.correlationId]?.toString()).toBe(correlationId);

    const pool = createPgPool(config, { max: 1 });
    try {
      await waitFor(async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count) === 1,
        { what: 'the bar in PostgreSQL', timeoutMs: 60_000 });
    } finally {
      await pool.end();
    }

    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    const found = await waitFor(async () => {
      await tracing!.flush();
      const spans = inTrace();
      const send = spans.find((s) => s.name === `send ${topic.name}`);
      const write = spans.find((s) => s.name === 'write postgres-sink');
      const queries = write ? spans.filter((s) => s.parentSpanId === write.spanId) : [];
      return send && write && queries.length > 0 ? { send, write, queries } : undefined;
    }, { what: 'the send, write and query spans at the receiver', timeoutMs: 15_000 }).catch((err: unknown) => {
      const received = receiver.spans.filter((s) => !s.name.startsWith('pg.')).map((s) => [s.name, s.traceId, s.spanId, s.parentSpanId]);
      throw new Error(`${String(err)}; spans received: ${JSON.stringify(received)}`);
    });

    const { send, write, queries } = found;
    expect(receiver.paths.every((p) => p.startsWith('POST /v1/traces application/json'))).toBe(true);
    expect(send.parentSpanId ?? '').toBe(''); // the trace's root
    expect(send.kind).toBe(4); // PRODUCER
    expect(traceparent).toBe(`00-${traceId}-${send.spanId}-01`);
    expect(attr(send, 'messaging.destination.name')).toBe(topic.name);
    expect(attr(send, 'marketstream.correlation_id')).toBe(correlationId);
    expect(write.parentSpanId).toBe(send.spanId);
    expect(write.kind).toBe(5); // CONSUMER
    expect(attr(write, 'messaging.destination.name')).toBe(topic.name);
    expect(Number(attr(write, 'messaging.batch.message_count'))).toBe(1);
    expect(write.service).toBe('marketstream-test');
    // The pg instrumentation's spans (client kind), children of the write: the upsert among them.
    expect(queries.every((q) => q.kind === 3)).toBe(true);
    expect(queries.some((q) => /price_data/i.test(String(attr(q, 'db.query.text') ?? attr(q, 'db.statement') ?? '')))).toBe(true);
  });

  it('a Claude call is a child span of the store write that asked for it; a write of records from two traces links the second', async () => {
    const claude = await startFakeAnthropic();
    try {
      claude.enqueue(toolUseResponse({ type: 'earnings' }));
      const client = createClaudeClient('claude', fakeClaudeOptions(claude, 'sk-test', () => {}));
      // Two published batches (two traces), written together: the write's parent is the first, the second is a link.
      const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
      const parentOf = (id: string, span: string) => ({ [RecordHeaders.traceparent]: Buffer.from(`00-${traceIdOf(id)}-${span.repeat(16)}-01`) });
      await inStoreWriteSpan('write enricher', {}, [parentOf(first, '1'), parentOf(second, '2')], async () => {
        await client.create(client.params({ system: 'classify', tool: { name: 'classify_event', description: 'd', input_schema: { type: 'object' } },
          maxTokens: 64, messages: [{ role: 'user', content: 'Apple beats estimates' }] }));
      });
      const found = await waitFor(async () => {
        await tracing!.flush();
        const write = receiver.spans.find((s) => s.name === 'write enricher' && s.traceId === traceIdOf(first));
        const chat = write && receiver.spans.find((s) => s.name === 'chat claude-haiku-5-5' && s.parentSpanId === write.spanId);
        return write && chat ? { write, chat } : undefined;
      }, { what: 'the write and chat spans at the receiver', timeoutMs: 15_000 });
      expect(found.chat.traceId).toBe(traceIdOf(first));
      expect(found.chat.kind).toBe(3); // CLIENT
      expect(attr(found.chat, 'gen_ai.request.model')).toBe('claude-haiku-5-5');
      expect(Number(attr(found.chat, 'gen_ai.usage.input_tokens'))).toBe(812);
      expect(found.write.links?.map((l) => l.traceId)).toEqual([traceIdOf(second)]);
      expect(claude.requests).toHaveLength(1);
    } finally {
      await claude.close();
    }
  });
});
