// One small node:http server per process for orchestrators and Prometheus: /metrics (text exposition), /live (the
// process is up), /ready (200 once the command is started and every readiness check passes, else 503 with the
// reasons), /health (JSON report of every dependency; 503 when one is down). Port 0 picks a free port; a port in use
// falls back to a free one with a warning, so two local processes never crash over it. Listens on METRICS_HOST
// (127.0.0.1 by default). What it answers describes errors with describeError (class, code, fixed phrase): no driver
// message, no stack trace.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface Readiness {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reasons: string[];
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  [k: string]: unknown;
}

export interface HealthServerOptions {
  port: number;
  host: string;
  logger: Logger;
  metrics: Metrics;
  readiness(): Readiness;
  health(): Promise<HealthReport>;
}

export interface HealthServer {
  readonly port: number;
  /** http://host:port, with 127.0.0.1 for an any-address bind. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const log = o.logger.child({ component: 'health-server' });
  const server = createServer((req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      log.warn({ path: req.url, err: errorMessage(err) }, 'health endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain', `error: ${describeError(err)}\n`); // never the raw message nor a stack
      else res.end();
    });
  });
  server.keepAliveTimeout = 5000;
  let port: number;
  try {
    port = await listen(server, o.port, o.host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.port === 0) throw err;
    port = await listen(server, 0, o.host);
    log.warn({ wanted: o.port, port },
      `port ${o.port} is in use (another marketstream process?): serving metrics and health on port ${port} instead; set METRICS_PORT per process`);
  }
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ port, url }, `metrics and health on ${url} (/metrics, /health, /ready, /live)`);
  return {
    port,
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => { server.off('listening', onListening); reject(err); };
    const onListening = () => { server.off('error', onError); resolve((server.address() as AddressInfo).port); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

async function handle(o: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics':
      return send(res, 200, o.metrics.contentType, await o.metrics.scrape());
    case '/live':
      return send(res, 200, 'application/json', json({ live: true }));
    case '/ready': {
      const r = o.readiness();
      return send(res, r.ready ? 200 : 503, 'application/json', json(r));
    }
    case '/health': {
      const h = await o.health();
      return send(res, h.status === 'ok' ? 200 : 503, 'application/json', json(h));
    }
    default:
      return send(res, 404, 'text/plain', 'not found: try /metrics, /health, /ready or /live\n');
  }
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
