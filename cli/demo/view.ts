// How the demo talks to the person running it. On a terminal: the demo's steps as plain sentences, scrolling, with a
// live view below them that is redrawn in place twice a second (ANSI: cursor up, clear to the end of the screen).
// Elsewhere (CI, pipes, or --verbose where the logs share the terminal): the sentences and a one-line status every
// few seconds. Never log records: those go to the log file (or, with --verbose, to stderr).
import type { DemoStats, StatsReader } from './stats.ts';

export interface DemoOutput {
  /** One step of the demo, as a sentence. */
  say(message: string): void;
  /** From now on: the live view (terminal) or the periodic status line. */
  start(stats: StatsReader): void;
  /** The last frame (fresh store counts) stays on the screen, or a last status line; the timer stops. */
  stop(): Promise<void>;
}

export interface DemoOutputOptions {
  out: NodeJS.WritableStream & { columns?: number; rows?: number };
  mode: 'live' | 'plain';
  /** Shown in the view's last line. */
  logFile: string;
  refreshMs?: number;
  statusEveryMs?: number;
}

const ESC = '\u001b[';

export function createDemoOutput(o: DemoOutputOptions): DemoOutput {
  const { out } = o;
  let stats: StatsReader | null = null;
  let last: DemoStats | null = null;
  let timer: NodeJS.Timeout | null = null;
  let drawn = 0; // lines of the view on the screen, right above the cursor
  let busy = false;

  const frame = () => {
    if (!last) return '';
    const width = Math.max(40, (out.columns ?? 100) - 1);
    const maxRows = Math.max(5, (out.rows ?? 50) - 2);
    const rows = renderView(last, { logFile: o.logFile }).slice(0, maxRows).map((r) => clip(r, width));
    drawn = rows.length;
    return `${rows.join('\n')}\n`;
  };
  /** Cursor up over the view and clear to the end of the screen: the next write replaces it. */
  const erase = () => {
    const s = drawn > 0 ? `${ESC}${drawn}A\r${ESC}0J` : '';
    drawn = 0;
    return s;
  };
  const tick = async (final = false) => {
    if (!stats || (busy && !final)) return;
    busy = true;
    try {
      last = await stats.read();
      if (o.mode === 'live') out.write(erase() + frame());
      else out.write(`${statusLine(last)}\n`);
    } catch {
      // a metric or store read failed: the next tick tries again
    } finally {
      busy = false;
    }
  };

  return {
    say(message) {
      if (o.mode === 'live' && drawn > 0) out.write(`${erase()}${message}\n${frame()}`);
      else out.write(`${message}\n`);
    },
    start(reader) {
      stats = reader;
      void reader.refreshStores().catch(() => {});
      if (o.mode === 'live') void tick();
      timer = setInterval(() => void tick(), o.mode === 'live' ? (o.refreshMs ?? 500) : (o.statusEveryMs ?? 5000));
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (!stats) return;
      await stats.refreshStores().catch(() => {});
      while (busy) await new Promise((r) => setTimeout(r, 20));
      await tick(true);
      drawn = 0; // the last frame stays where it is
      stats = null;
    },
  };
}

const fmt = (n: number | null | undefined) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

/** The live view, one string per line (no colours, so it can be clipped to the terminal's width). */
export function renderView(s: DemoStats, o: { logFile: string }): string[] {
  const rows: string[] = [];
  const groupWidth = Math.max(24, ...s.groups.map((g) => g.group.length + 2));
  const topicWidth = Math.max(groupWidth, ...s.topics.map((t) => t.topic.length + 2));
  rows.push(`── marketstream demo · live view · ${s.elapsedS} s ${'─'.repeat(40)}`);
  rows.push(`${'Topics'.padEnd(topicWidth)} ${'published'.padStart(10)}`);
  for (const t of s.topics) rows.push(`  ${t.topic.padEnd(topicWidth - 2)} ${fmt(t.published).padStart(10)}`);
  rows.push(`${'Consumer groups'.padEnd(groupWidth)} ${'lag'.padStart(10)} ${'lag s'.padStart(7)} ${'written'.padStart(10)}`);
  for (const g of s.groups) {
    rows.push(`  ${g.group.padEnd(groupWidth - 2)} ${fmt(g.lag).padStart(10)} ${fmt(g.lagSeconds === null ? null : Math.round(g.lagSeconds)).padStart(7)} ` +
      `${fmt(g.written).padStart(10)}`);
  }
  const { postgres: pg, redis, neo4j } = s.stores;
  rows.push('Stores');
  rows.push(`  PostgreSQL  ${pg ? `price_data ${fmt(pg.priceRows)} rows · market_events ${fmt(pg.events)} rows (${fmt(pg.classified)} classified)`
    : 'price_data – rows · market_events – rows'}`);
  rows.push(`  Redis       ${redis ? `price:* ${fmt(redis.price)} keys · bars:* ${fmt(redis.bars)} keys` : 'price:* – keys · bars:* – keys'}`);
  rows.push(`  Neo4j       ${neo4j ? `${fmt(neo4j.nodes)} nodes · ${fmt(neo4j.relationships)} relationships` : '– nodes · – relationships'}`);
  rows.push(`Price source  ${s.priceSource.active.join(', ') || '–'} · ${fmt(s.priceSource.fetches)} fetches (${fmt(s.priceSource.errors)} failed)`);
  rows.push(`Features      ${featuresText(s.stores.features)}`);
  rows.push(`Freshness     ${s.freshness.length ? s.freshness.map((f) => `${f.store} ${f.ageSeconds} s (${f.symbol} ${f.interval})`).join(' · ')
    : '– (no bar written yet)'}`);
  rows.push(`Claude        ${claudeText(s)}`);
  rows.push(`Logs          ${o.logFile}`);
  return rows;
}

/** One line for logs and pipes: what the view shows, compressed. */
export function statusLine(s: DemoStats): string {
  const { postgres: pg, redis, neo4j } = s.stores;
  return [
    `[${s.elapsedS} s] published ${s.topics.map((t) => `${t.topic} ${fmt(t.published)}`).join(', ')}`,
    `lag/written ${s.groups.map((g) => `${g.sink} ${fmt(g.lag)}/${fmt(g.written)}`).join(', ')}`,
    `PostgreSQL ${fmt(pg?.priceRows)} price rows, ${fmt(pg?.events)} events`,
    `Redis ${fmt(redis ? redis.price + redis.bars : null)} keys`,
    `Neo4j ${fmt(neo4j?.nodes)} nodes, ${fmt(neo4j?.relationships)} relationships`,
    `price source ${s.priceSource.active.join(', ') || '–'}`,
    `features ${featuresText(s.stores.features)}`,
    `freshness ${s.freshness.map((f) => `${f.store} ${f.ageSeconds} s`).join(', ') || '–'}`,
    s.claude.enabled ? `Claude ${fmt(s.claude.calls)} calls $${s.claude.costUsd.toFixed(4)}` : 'rule-based classifier',
  ].join(' | ');
}

/** A few indicators of the first demo symbols: RSI, MACD and SMA of their newest bar. */
export function featuresText(f: DemoStats['stores']['features']): string {
  if (!f?.length) return 'price_features – (the features group computes from 20 bars on)';
  const v = (x: number | null, digits: number) => (x === null ? '–' : x.toFixed(digits));
  return f.slice(0, 3).map((x) => `${x.symbol} ${x.interval} RSI ${v(x.rsi, 1)} MACD ${v(x.macd, 3)} SMA ${v(x.sma, 2)}`).join(' · ');
}

function claudeText(s: DemoStats): string {
  const c = s.claude;
  if (!c.enabled) return 'rule-based classifier (no ANTHROPIC_API_KEY)';
  return `${c.model}: ${fmt(c.calls)} calls · $${c.costUsd.toFixed(4)} · ${fmt(c.inputTokens)} input / ${fmt(c.outputTokens)} output tokens`;
}

function clip(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, width - 1).join('')}…`;
}
