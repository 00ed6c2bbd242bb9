// The health server: /live, /ready (503 with reasons until ready), /health (503 unless ok), /metrics, and its port rules.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthReport, type HealthServer, type Readiness } from '../../lib/health-server.ts';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics } from '../../lib/metrics.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const servers: HealthServer[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

async function start(state: { readiness: Readiness; health: HealthReport }, port = 0): Promise<HealthServer> {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.recordsProduced('price-updates', 7);
  const s = await startHealthServer({ port, host: '127.0.0.1', logger, metrics, readiness: () => state.readiness, health: async () => state.health });
  servers.push(s);
  return s;
}

describe('health server', () => {
  it('answers /live at once, /ready 503 with the reasons until ready, then 200', async () => {
    const state = { readiness: { ready: false, reasons: ['g: a member is connecting to its store and joining its group'] },
      health: { status: 'starting' as const } };
    const s = await start(state);
    expect((await fetch(`${s.url}/live`)).status).toBe(200);
    const notReady = await fetch(`${s.url}/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual(state.readiness);
    state.readiness = { ready: true, reasons: [] };
    expect((await fetch(`${s.url}/ready`)).status).toBe(200);
  });

  it('answers /health with the JSON report, 503 unless its status is ok', async () => {
    const state = { readiness: { ready: true, reasons: [] }, health: { status: 'degraded', dependencies: { kafka: { status: 'down' } } } as HealthReport };
    const s = await start(state);
    const degraded = await fetch(`${s.url}/health`);
    expect(degraded.status).toBe(503);
    expect(await degraded.json()).toEqual(state.health);
    state.health = { status: 'ok' };
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('serves the Prometheus exposition on /metrics and 404 elsewhere', async () => {
    const s = await start({ readiness: { ready: true, reasons: [] }, health: { status: 'ok' } });
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^marketstream_records_produced_total\{topic="price-updates"\} 7$/m);
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
  });

  it('falls back to a free port when the configured one is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const s = await start({ readiness: { ready: true, reasons: [] }, health: { status: 'ok' } }, taken);
      expect(s.port).not.toBe(taken);
      expect((await fetch(`${s.url}/live`)).status).toBe(200);
    } finally {
      blocker.close();
    }
  });
});
