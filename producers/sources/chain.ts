// A chain of price sources in order of preference (PRICE_SOURCE=yahoo,alphavantage,twelvedata): each poll asks the
// first member that can be asked (its circuit not open, its rate limit not spent: `health()`), hands the symbols it
// failed for (or all of them, when it failed) to the next, and so on. So the first healthy source answers, the next
// takes over in the same poll when it fails, and the first takes back once its breaker lets a trial call through and
// it succeeds. A bar is published once whoever offers it: the chain keeps one cursor per symbol and interval (the last
// bar Kafka acknowledged, from any member) and drops what a member offers at or before it, and every member hears
// what was published, so a source that takes over or takes back starts after the last bar published, not after its own.
// Each record's `source` names the provider that produced it. A change of the member that answers is a switch: logged
// once, reported to `onSwitch` (the metric), and kept for status() (/health, doctor).
import { describeError, errorMessage, TransientError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { PriceFeedName, PriceInterval } from '../../topics/price-update.ts';
import { createCursor, createHandOff } from './live.ts';
import type { PriceFeed, RejectedInput, SourceHealth } from './types.ts';

export interface SourceSwitch { from: string; to: string; at: string; reason: string }

export interface SourceChainStatus {
  /** The members, in order of preference. */
  chain: string[];
  /** The member that answered the last poll (the first that answered for any symbol), or null before any did. */
  active: string | null;
  activeSince: string | null;
  switches: number;
  lastSwitch: SourceSwitch | null;
  members: Array<SourceHealth & { name: string; lastError: { at: string; error: string } | null }>;
}

export interface SourceChain extends PriceFeed {
  readonly name: 'chain';
  readonly members: readonly PriceFeed[];
  status(): SourceChainStatus;
}

export interface SourceChainOptions {
  /** The interval of the members' records (bars mode: their bar interval; quote mode: tick), for the look at a restart. */
  interval: PriceInterval;
  /** How far back the members look (their look-back): where a restart looks for the last bars published. */
  lookbackMs: number;
}

export interface SourceChainDeps {
  logger: Logger;
  /** Hears each change of the member that answers: `from` null for the first answer. */
  onSwitch?: (from: string | null, to: string) => void;
  clock?: () => number;
}

export function createSourceChain(members: readonly PriceFeed[], o: SourceChainOptions, deps: SourceChainDeps): SourceChain {
  if (members.length === 0) throw new Error('a source chain needs at least one source');
  const log = deps.logger.child({ component: 'source-chain' });
  const clock = deps.clock ?? Date.now;
  const names = members.map((m) => m.name);
  const rank = new Map<string, number>(names.map((n, i) => [n, i]));
  const cursor = createCursor();
  const rejected = createHandOff<RejectedInput>();
  const lastErrors = new Map<string, { at: string; error: string }>();
  let asked = new Set<PriceFeed>();
  let active: string | null = null;
  let activeSince: string | null = null;
  let switches = 0;
  let lastSwitch: SourceSwitch | null = null;

  function switchTo(to: string, passed: readonly string[]): void {
    const from = active;
    active = to;
    activeSince = new Date(clock()).toISOString();
    deps.onSwitch?.(from, to);
    if (from === null) {
      log.info({ source: to, chain: names }, `price source: ${to} answers`);
      return;
    }
    switches++;
    const reason = passed.join('; ') || `${from} not asked`;
    lastSwitch = { from, to, at: activeSince, reason };
    if (rank.get(to)! < rank.get(from)!) log.info({ from, to, chain: names }, `price source switched back: ${to} answers again instead of ${from}`);
    else log.warn({ from, to, reason, chain: names }, `price source switched: ${to} answers instead of ${from}`);
  }

  const chain: SourceChain = {
    name: 'chain',
    members,
    recordSources: [...new Set(names.filter((n): n is PriceFeedName => n !== 'chain'))],

    async fetch(symbols, now) {
      let pending = [...symbols];
      const out: PriceUpdate[] = [];
      const passed: string[] = []; // why the members before the one that answered did not (for the switch's log line)
      let answered: string | null = null;
      let lastError: unknown;
      asked = new Set();
      for (const m of members) {
        if (pending.length === 0 && answered !== null) break;
        if (m.exhausted?.()) { passed.push(`${m.name}: exhausted`); continue; }
        const health = m.health?.();
        if (health && !health.available) { passed.push(`${m.name}: ${health.reason ?? 'unavailable'}`); continue; }
        asked.add(m);
        try {
          const records = await m.fetch(pending, now);
          const failed = new Set(m.takeFailedSymbols?.() ?? []);
          for (const r of m.takeRejected?.() ?? []) rejected.push(r);
          answered ??= m.name;
          for (const r of records) if (cursor.isNew(r.symbol, r.interval, r.eventTime)) out.push(r);
          if (failed.size > 0) passed.push(`${m.name}: failed for ${[...failed].join(', ')}`);
          pending = pending.filter((s) => failed.has(s));
        } catch (err) {
          m.takeFailedSymbols?.();
          for (const r of m.takeRejected?.() ?? []) rejected.push(r);
          lastError = err;
          lastErrors.set(m.name, { at: new Date(clock()).toISOString(), error: describeError(err) });
          passed.push(`${m.name}: ${errorMessage(err)}`);
          log.debug({ member: m.name, err: errorMessage(err) }, 'price source failed this poll: asking the next one');
        }
      }
      if (answered === null) throw new TransientError(`no price source answered: ${passed.join('; ')}`, lastError, 'NO_PRICE_SOURCE');
      if (pending.length > 0) log.warn({ symbols: pending, reasons: passed }, 'no price source could fetch these symbols this poll');
      if (answered !== active) switchTo(answered, passed);
      return out;
    },

    acknowledge(records) {
      cursor.acknowledge(records);
      // Every member hears what was published, whoever produced it, so none offers it again when it takes over. A file
      // acknowledges its own last fetch's rows whatever it is given, so it hears only a fetch it answered.
      for (const m of members) if (asked.has(m) || m.name !== 'file') m.acknowledge?.(records);
    },

    takeRejected: rejected.take,

    resumeQuery(now) {
      return { interval: o.interval, since: now - o.lookbackMs - 60_000 };
    },

    resume(lastPublished) {
      const records = [...lastPublished].map(([symbol, eventTime]) => ({ symbol, interval: o.interval, eventTime }));
      cursor.acknowledge(records);
      for (const m of members) {
        if (m.resume) m.resume(lastPublished);
        else if (m.name !== 'file') m.acknowledge?.(records as PriceUpdate[]);
      }
    },

    exhausted: () => members.every((m) => m.exhausted?.() ?? false),

    status() {
      return {
        chain: names, active, activeSince, switches, lastSwitch,
        members: members.map((m) => ({ name: m.name, ...(m.health?.() ?? { circuit: 'closed', available: true }), lastError: lastErrors.get(m.name) ?? null })),
      };
    },

    async close() {
      await Promise.all(members.map((m) => m.close?.()));
    },
  };
  return chain;
}
