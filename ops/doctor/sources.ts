// The price sources: what PRICE_SOURCE configures (one source, or a failover chain), whether each provider can work
// (its API key set, its rate limit), and, when a price producer runs on METRICS_PORT, what its /health says of the
// chain now: which source answers, since when, how many switches and the last one, each member's circuit and rate
// limit. Never a FAIL for a running chain (it still publishes through a fallback); a provider without its key FAILs
// when it is the only source (nothing can be published), else warns.
import type { Config } from '../../lib/config.ts';
import type { SourceChainStatus } from '../../producers/sources/chain.ts';
import type { PriceFeedName } from '../../topics/price-update.ts';
import type { Check } from './types.ts';
import { settle } from './util.ts';

const KEYS: Partial<Record<PriceFeedName, { variable: 'ALPHAVANTAGE_API_KEY' | 'TWELVEDATA_API_KEY'; limits: (c: Config) => string }>> = {
  alphavantage: {
    variable: 'ALPHAVANTAGE_API_KEY',
    limits: (c) => `${c.ALPHAVANTAGE_REQUESTS_PER_MINUTE || 'unlimited'} requests/min, ${c.ALPHAVANTAGE_REQUESTS_PER_DAY || 'unlimited'}/day`,
  },
  twelvedata: {
    variable: 'TWELVEDATA_API_KEY',
    limits: (c) => `${c.TWELVEDATA_CREDITS_PER_MINUTE || 'unlimited'} credits/min, ${c.TWELVEDATA_CREDITS_PER_DAY || 'unlimited'}/day`,
  },
};

/** The /health of the process on METRICS_PORT (an any-address bind is asked on loopback). */
export function defaultHealthUrl(config: Pick<Config, 'METRICS_HOST' | 'METRICS_PORT'>): string {
  const host = ['0.0.0.0', '::', '[::]'].includes(config.METRICS_HOST) ? '127.0.0.1' : config.METRICS_HOST;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.METRICS_PORT}/health`;
}

function configured(config: Config): Check[] {
  const chain = config.PRICE_SOURCE;
  const base = { section: 'sources' as const, ms: 0 };
  const checks: Check[] = [{
    ...base, id: 'sources.chain', name: 'PRICE_SOURCE', status: 'info',
    summary: chain.length === 1 ? `${chain[0]} (one source, no failover)`
      : `${chain.join(' → ')}: ${chain[0]} answers while it can, each next one takes over when those before it fail`,
    data: { chain },
  }];
  for (const name of chain) {
    const key = KEYS[name];
    if (!key) continue;
    const id = `sources.${name}`;
    if (config[key.variable]) {
      checks.push({ ...base, id, name, status: 'ok', summary: `API key set; rate limit ${key.limits(config)}`, data: { keySet: true } });
      continue;
    }
    checks.push({
      ...base, id, name, status: chain.length === 1 ? 'fail' : 'warn', summary: `no API key: ${key.variable} is empty, so ${name} is never asked`,
      hint: `set ${key.variable} (a free key from the provider), or take ${name} out of PRICE_SOURCE`, data: { keySet: false },
    });
  }
  return checks;
}

function describeMember(m: SourceChainStatus['members'][number]): string {
  const limit = m.rateLimit?.windows.map((w) => `${w.used}/${w.limit} ${w.label}`).join(', ');
  return [`${m.name}: circuit ${m.circuit}`, m.available ? 'available' : `not available (${m.reason ?? 'unknown'})`, limit ? `rate limit ${limit}` : '']
    .filter(Boolean).join(', ');
}

/** What the running producer's /health says of its chain. */
async function live(url: string, timeoutMs: number): Promise<Check> {
  const started = Date.now();
  const base = { id: 'sources.live', section: 'sources' as const, name: 'running chain' };
  const s = await settle((async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return await res.json() as { command?: string; pid?: number; sources?: SourceChainStatus };
  })(), timeoutMs + 100);
  const ms = Date.now() - started;
  if (!s.ok) {
    return { ...base, status: 'info', ms, data: { url, answered: false },
      summary: `no process answered at ${url}: a running price producer (\`produce prices\`, \`run\`) shows its chain there` };
  }
  const chain = s.value.sources;
  const who = `${s.value.command ?? 'a process'} (pid ${s.value.pid ?? '?'})`;
  if (!chain) return { ...base, status: 'info', ms, summary: `${who} at ${url} runs no source chain`, data: { url, answered: true } };
  const last = chain.lastSwitch ? `; last ${chain.lastSwitch.from} → ${chain.lastSwitch.to} at ${chain.lastSwitch.at} (${chain.lastSwitch.reason})` : '';
  const summary = `${who}: ${chain.active ?? 'no source yet'} answers${chain.activeSince ? ` since ${chain.activeSince}` : ''}, ` +
    `${chain.switches} switch${chain.switches === 1 ? '' : 'es'}${last}. ${chain.members.map(describeMember).join('; ')}`;
  const fallback = chain.active !== null && chain.active !== chain.chain[0];
  return {
    ...base, status: fallback ? 'warn' : 'ok', summary, ms, data: { url, answered: true, ...chain },
    ...(fallback ? { hint: `${chain.chain[0]} is not answering (see its line above and /health circuits); ${chain.active} publishes meanwhile` } : {}),
  };
}

export async function checkPriceSources(config: Config, o: { timeoutMs: number; healthUrl?: string }): Promise<Check[]> {
  return [...configured(config), await live(o.healthUrl ?? defaultHealthUrl(config), o.timeoutMs)];
}
