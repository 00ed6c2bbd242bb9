// Traces across the pipeline (OpenTelemetry), off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, nothing here loads
// the SDK: only @opentelemetry/api, whose calls are no-ops, and the publisher adds no header. On (startTracing, called
// by every long-running command through cli/observability), spans go by OTLP/HTTP (JSON) to the endpoint:
// - the producer's span per published batch (`send <topic>`, one per Publisher.send call), whose trace id is the
//   batch's correlation id (traceIdOf), its W3C `traceparent` in every record's headers;
// - the sink's span per store write (`write <sink>`), a child of the first record's traceparent, linked to the others;
//   PostgreSQL queries inside it are child spans of it (the pg instrumentation, patched into the loaded pg module);
// - the Claude call (`chat <model>`), a child of the span that asked for it (the enricher's store write).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  context, defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace,
  type Attributes, type Context, type Link, type Span, type TextMapPropagator, type Tracer,
} from '@opentelemetry/api';
import type { IHeaders } from 'kafkajs';
import type { Config } from './config.ts';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import { RecordHeaders } from './record-headers.ts';

/** The record header carrying the producer span's W3C trace context (https://www.w3.org/TR/trace-context/). */
export const TRACEPARENT = RecordHeaders.traceparent;
const TRACER = 'marketstream';
/** Most links a store-write span keeps (the SDK's default span limit is 128, its parent takes no link). */
export const MAX_LINKS = 127;

let on = false;
/**
 * This process's tracer and propagator, used directly rather than through the API's globals, which another
 * registration (a test runner's own tracing, a host's auto-instrumentation) may already hold: its spans would then
 * be someone else's. The context manager is global (one is needed for the pg instrumentation's parent lookup); any
 * AsyncLocalStorage one that is already registered serves as well.
 */
let tracer: Tracer = trace.getTracer(TRACER);
let propagator: TextMapPropagator = propagation;
/** The trace id the next root span gets (set and read synchronously around one startSpan; see startTracing's idGenerator). */
let nextTraceId: string | undefined;

/** Whether tracing was started in this process: callers skip all tracing work when not. */
export const tracingOn = (): boolean => on;

/**
 * The trace id of a correlation id: a UUID's 32 hex digits as they are (so the id logged and the id in the tracing UI
 * are the same digits), any other string (a caller's own correlation id) the first 32 hex digits of its SHA-256.
 */
export function traceIdOf(correlationId: string): string {
  const hex = correlationId.replaceAll('-', '').toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex) && correlationId.length === 36) return hex;
  return createHash('sha256').update(correlationId).digest('hex').slice(0, 32);
}

export interface Tracing {
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Sends what is left and stops tracing in this process. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (undefined otherwise, having loaded nothing): the SDK with
 * the OTLP/HTTP exporter to `<endpoint>/v1/traces`, AsyncLocalStorage context, the W3C propagator, and the pg
 * instrumentation. `service` names the process (service.name `marketstream-<service>`, spaces as dashes).
 */
export async function startTracing(config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT'>, service: string, logger: Logger): Promise<Tracing | undefined> {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || on) return undefined;
  const name = `marketstream-${service.trim().replace(/\s+/g, '-')}`;
  const [sdk, otlp, resources, semconv, hooks, core] = await Promise.all([
    import('@opentelemetry/sdk-trace'), import('@opentelemetry/exporter-trace-otlp-http'), import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'), import('@opentelemetry/context-async-hooks'), import('@opentelemetry/core'),
  ]);
  const random = new sdk.RandomIdGenerator();
  // A root span started by startRootSpan takes the trace id it was given (the batch's correlation id); any other, a random one.
  const idGenerator = {
    generateTraceId: () => nextTraceId ?? random.generateTraceId(),
    generateSpanId: () => random.generateSpanId(),
  };
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: name }),
    idGenerator,
    spanProcessors: [new sdk.BatchSpanProcessor({
      exporter: new otlp.OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }), scheduledDelayMillis: 1000,
    })],
  });
  const contextManager = new hooks.AsyncLocalStorageContextManager().enable();
  const ownContext = context.setGlobalContextManager(contextManager);
  if (!ownContext) contextManager.disable();
  tracer = provider.getTracer(TRACER);
  propagator = new core.W3CTraceContextPropagator();
  const unpatch = await instrumentPg(provider, logger);
  on = true;
  logger.info({ endpoint, service: name }, 'tracing on: spans go to the OTLP endpoint');
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (!on) return;
      on = false;
      unpatch();
      await provider.shutdown().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'tracing: last spans not sent'));
      tracer = trace.getTracer(TRACER);
      propagator = propagation;
      if (ownContext) context.disable();
    },
  };
}

/**
 * The pg instrumentation, applied to the pg module this process already loaded. Its own hooks (require-in-the-middle,
 * import-in-the-middle) only see modules loaded after it is enabled, and the stores import pg statically at start,
 * so instead its patch is run on the loaded module: it wraps Client.prototype.query in place, which every pool's
 * clients share. Returns the unpatch.
 */
async function instrumentPg(provider: import('@opentelemetry/api').TracerProvider, logger: Logger): Promise<() => void> {
  try {
    const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
    // requireParentSpan: only queries inside a traced write (the sinks' migrations and probes stay untraced).
    const instrumentation = new PgInstrumentation({ enabled: false, requireParentSpan: true });
    instrumentation.setTracerProvider(provider);
    const require = createRequire(import.meta.url);
    const pg = require('pg') as object;
    const version = (require('pg/package.json') as { version: string }).version;
    // Only pg's own definition (Client.prototype.query and connect): pg-pool's would add a span per pool checkout.
    const def = instrumentation.getModuleDefinitions().find((d) => d.name === 'pg');
    if (!def?.patch) throw new Error('no patch for pg in @opentelemetry/instrumentation-pg');
    const patched = def.patch(pg, version);
    return () => { def.unpatch?.(patched, version); };
  } catch (err) {
    logger.warn({ err: errorMessage(err) }, 'tracing: PostgreSQL queries are not traced (the pg instrumentation could not be applied)');
    return () => undefined;
  }
}

/** Runs `fn` in `span` (as the active span), ending it with fn's outcome. */
async function inSpan<T>(span: Span, parent: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    span.recordException(err instanceof Error ? err : new Error(errorMessage(err)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * The producer's span of one published batch (tracing on only): a root span whose trace id is the batch's correlation
 * id; `fn` gets the headers to add to each record (its traceparent).
 */
export function inPublishSpan<T>(topic: string, correlationId: string, count: number, fn: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  nextTraceId = traceIdOf(correlationId);
  let span: Span;
  try {
    span = tracer.startSpan(`send ${topic}`, {
      kind: SpanKind.PRODUCER, root: true,
      attributes: {
        'messaging.system': 'kafka', 'messaging.operation.name': 'send', 'messaging.operation.type': 'send', 'messaging.destination.name': topic,
        'messaging.batch.message_count': count, 'marketstream.correlation_id': correlationId,
      },
    });
  } finally {
    nextTraceId = undefined;
  }
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  const headers: Record<string, string> = {};
  propagator.inject(ctx, headers, defaultTextMapSetter);
  return inSpan(span, ROOT_CONTEXT, () => fn(headers));
}

/** The trace context a record's headers carry (its traceparent), or undefined. */
function recordContext(headers: IHeaders | undefined): Context | undefined {
  const h = headers?.[TRACEPARENT];
  if (h === undefined) return undefined;
  const value = (Array.isArray(h) ? h[0] : h)?.toString();
  if (!value) return undefined;
  const ctx = propagator.extract(ROOT_CONTEXT, { [TRACEPARENT]: value }, defaultTextMapGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/**
 * A sink's span of one store write (tracing on only), around `fn`: a batch's records may come from many published
 * batches (many traces). The span is a child of its first record's trace context (so the trace of that record runs from
 * the producer to the store), and links to each other distinct context (at most MAX_LINKS): a trace whose records
 * were written with others' shows the write through its link. Records without a traceparent: a root span.
 */
export function inStoreWriteSpan<T>(name: string, attributes: Attributes, headers: readonly (IHeaders | undefined)[], fn: () => Promise<T>): Promise<T> {
  let parent: Context | undefined;
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const h of headers) {
    const ctx = recordContext(h);
    const sc = ctx && trace.getSpanContext(ctx);
    if (!sc || seen.has(sc.spanId)) continue;
    seen.add(sc.spanId);
    if (!parent) parent = ctx;
    else if (links.length < MAX_LINKS) links.push({ context: sc });
  }
  const base = parent ?? ROOT_CONTEXT;
  const span = tracer.startSpan(name, {
    kind: SpanKind.CONSUMER, links, attributes: { 'messaging.system': 'kafka', 'messaging.operation.type': 'process', ...attributes },
  }, base);
  return inSpan(span, base, fn);
}

/** The active context: captured where a call is asked for, so a span started later (in a limiter's queue) keeps its parent. */
export const activeContext = (): Context => context.active();

/** A client call's span (tracing on; otherwise just `fn`), a child of `parent` (default: the active span). */
export function inClientSpan<T>(name: string, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>, parent?: Context): Promise<T> {
  if (!on) return fn(undefined);
  const base = parent ?? context.active();
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, base);
  return inSpan(span, base, () => fn(span));
}
