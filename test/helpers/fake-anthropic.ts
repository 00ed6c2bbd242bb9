// A local HTTP server speaking the Anthropic Messages API (POST /v1/messages) for tests of the Claude path:
// the real API is an outside service we cannot reach from tests. Answers are scripted per test, in order;
// each is a realistic Messages API response (or error) body. Every request is recorded for assertions.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ClaudeClientOptions } from '../../lib/claude/index.ts';
import { createLogger } from '../../lib/logger.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
  /** Answer after this many ms (to observe concurrency). */
  delayMs?: number;
}

/** A scripted answer: a fixed response, or one computed from the request. */
export type Script = FakeResponse | ((req: RecordedRequest) => FakeResponse);

export interface FakeAnthropic {
  /** Base URL for the SDK's `baseURL` (http://127.0.0.1:<port>). */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Most requests the server was answering at the same time. */
  readonly peakConcurrency: number;
  /** Queues answers for the next requests, in order. */
  enqueue(...scripts: Script[]): void;
  /** Answer used when the queue is empty (default: a 500 saying nothing was scripted). */
  setDefault(script: Script): void;
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_01${randomUUID().replace(/-/g, '').slice(0, 22)}`;

/** A successful tool-use answer, shaped like the Messages API's. */
export function toolUseResponse(input: unknown,
  opts: { model?: string; inputTokens?: number; outputTokens?: number; name?: string; stopReason?: string } = {}): FakeResponse {
  return {
    status: 200,
    headers: { 'request-id': id('req') },
    body: {
      id: id('msg'),
      type: 'message',
      role: 'assistant',
      model: opts.model ?? 'claude-haiku-5-5',
      content: [{ type: 'tool_use', id: id('toolu'), name: opts.name ?? 'classify_event', input }],
      stop_reason: opts.stopReason ?? 'tool_use',
      stop_sequence: null,
      stop_details: null,
      container: null,
      usage: {
        input_tokens: opts.inputTokens ?? 812,
        output_tokens: opts.outputTokens ?? 96,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        service_tier: 'standard',
      },
    },
  };
}

/** An API error, shaped like the Messages API's ({type: 'error', error: {type, message}}). */
export function errorResponse(status: number, type: string, message: string, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers: { 'request-id': id('req'), ...headers }, body: { type: 'error', error: { type, message }, request_id: id('req') } };
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const queue: Script[] = [];
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let peak = 0;
  let fallback: Script = errorResponse(500, 'api_error', 'fake-anthropic: no answer scripted for this request');

  const server = http.createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.on('close', () => { inFlight--; });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try { body = raw ? JSON.parse(raw) : null; } catch { /* recorded as text */ }
      const recorded: RecordedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, headers: req.headers, body };
      requests.push(recorded);
      let answer: FakeResponse;
      if (recorded.method !== 'POST' || recorded.path !== '/v1/messages') answer =
        errorResponse(404, 'not_found_error', `fake-anthropic: no route ${recorded.method} ${recorded.path}`);
      else if (!req.headers['x-api-key'] && !/^Bearer \S+/.test(req.headers.authorization ?? '')) answer =
        errorResponse(401, 'authentication_error', 'an x-api-key or Authorization: Bearer header is required');
      else if (!req.headers['anthropic-version']) answer = errorResponse(400, 'invalid_request_error', 'anthropic-version header is required');
      else {
        const script = queue.shift() ?? fallback;
        answer = typeof script === 'function' ? script(recorded) : script;
      }
      const json = JSON.stringify(answer.body);
      const send = () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), ...answer.headers });
        res.end(json);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs); else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get peakConcurrency() { return peak; },
    enqueue: (...scripts) => { queue.push(...scripts); },
    setDefault: (script) => { fallback = script; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The API key a request carried (SDK 1.x sends Authorization: Bearer; older versions x-api-key). */
export function apiKeyOf(req: RecordedRequest): string | undefined {
  const header = req.headers['x-api-key'];
  return (typeof header === 'string' ? header : undefined) ?? req.headers.authorization?.replace(/^Bearer /, '');
}

/**
 * Claude client settings for a unit test against `fake`: model claude-haiku-5-5, no budget limit, fast backoff, and a
 * debug-level JSON logger whose output goes to `onLog` (tests assert on it, and that the API key never appears).
 */
export function fakeClaudeOptions(fake: FakeAnthropic, apiKey: string, onLog: (text: string) => void): ClaudeClientOptions {
  const destination = new Writable({ write(chunk, _enc, cb) { onLog(chunk.toString()); cb(); } });
  return {
    apiKey, baseURL: fake.url, model: 'claude-haiku-5-5', timeoutMs: 5000, maxRetries: 3, maxConcurrency: 4,
    budget: { tokensPerHour: 0, costUsdPerHour: 0 }, minBackoffMs: 1, maxBackoffMs: 10,
    logger: createLogger({ level: 'debug', format: 'json', destination }),
  };
}
