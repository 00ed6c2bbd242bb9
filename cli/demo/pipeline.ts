// The demo's pipeline run, step by step, each step one of the product's own components:
// history (backfill) → company graph → news → live prices, with every consumer group running, then correlations
// once PostgreSQL holds the daily closes. Everything offline: synthetic prices, sample news and profiles, rule-based
// classification unless ANTHROPIC_API_KEY is set.
import type { Kafka } from 'kafkajs';
import { sinkNames, groupIdOf } from '../../consumers/catalog.ts';
import { startSinks } from '../../consumers/start.ts';
import { US_CALENDAR, type CalendarName } from '../../lib/calendar.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import type { Logger } from '../../lib/logger.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { backfill, createHistorySource } from '../../ops/backfill.ts';
import { sinkTopicNames } from '../../ops/groups.ts';
import { createCorrelationAnalyzer } from '../../producers/correlation-analyzer.ts';
import { createEventSource } from '../../producers/events/index.ts';
import { createEventsProducer } from '../../producers/events-producer.ts';
import { createGraphProducer } from '../../producers/graph-producer.ts';
import { createCompetitorFinder } from '../../producers/graph/competitor-finder.ts';
import { createFileProfileSource } from '../../producers/graph/profiles.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { instrumentPriceFeed } from '../../producers/sources/index.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import { startObservability } from '../observability.ts';

const DAY = 86_400_000;

export async function runDemoPipeline(o: { config: Config; logger: Logger; kafka: Kafka; durationS: number; say: (m: string) => void }): Promise<void> {
  const { config, logger, kafka, say } = o;
  const obs = await startObservability({ config, logger, command: 'demo' });
  say('Starting the consumer groups…');
  const sinks = await startSinks({ config, logger, names: sinkNames, hooks: obs.sinkHooks });
  say(`Consumer groups running: ${sinkNames.map((n) => groupIdOf(config, n)).join(', ')}`);
  const publisher = obs.instrumentPublisher(createPublisher({ kafka, serde: createSerde(config), logger }));
  await publisher.connect();
  obs.started();
  say(`Metrics and health while it runs: ${obs.url}/metrics, ${obs.url}/health`);
  const pool = createPgPool(config, { max: 2, applicationName: 'marketstream-demo' });
  const competitors = createCompetitorFinder({ config, logger, pool });
  try {
    const today = Math.floor(Date.now() / DAY) * DAY;
    say(`Backfilling 60 days of daily bars for ${config.SYMBOLS.length} symbols…`);
    const history = await backfill({
      config, logger, publisher, source: createHistorySource('synthetic', { config, logger, seed: config.SYNTHETIC_SEED }),
      symbols: config.SYMBOLS, from: today - 60 * DAY, to: today, interval: '1d', parallel: 4,
    });
    say(`Backfill: ${history.published} daily bars (60 days, source backfill) for ${config.SYMBOLS.join(', ')}.`);

    say('Publishing the company graph from the sample profiles…');
    const graph = await createGraphProducer({ config, logger, publisher, profiles: createFileProfileSource(), competitors, maxRuns: 1 }).runOnce();
    say(`Graph producer: ${graph.published} graph mutations for ${graph.profiles} company profiles ` +
      `(sample profiles; competitors ${config.ANTHROPIC_API_KEY ? 'from Claude' : 'from same-industry peers: no ANTHROPIC_API_KEY'}).`);

    say('Publishing news events from the bundled sample file…');
    const news = await createEventsProducer({ config, logger, publisher, source: createEventSource('file', {}, { logger }) }).publishOnce();
    say(`Events producer: ${news.published} news events from the bundled sample file (${news.duplicates} duplicates dropped); ` +
      `the enricher classifies them ${config.ANTHROPIC_API_KEY ? `with Claude (${config.ANTHROPIC_MODEL})`
        : 'with the rule-based classifier (no ANTHROPIC_API_KEY)'}.`);

    const calendar = liveCalendar(config.SYNTHETIC_CALENDAR, Date.now(), o.durationS * 1000);
    const source = instrumentPriceFeed(createSyntheticSource({ seed: config.SYNTHETIC_SEED, interval: 'tick', calendar }), obs.metrics);
    const producer = createPriceProducer({ config, logger, publisher, source, intervalMs: 1000 });
    say(`Live prices: ${config.SYMBOLS.join(', ')} every second for ${o.durationS} s (source synthetic, seed ${config.SYNTHETIC_SEED}, ` +
      `${calendar === config.SYNTHETIC_CALENDAR ? `calendar ${calendar}` : 'calendar 24x7: the US market is closed, so the demo trades around the clock'})…`);
    const loop = producer.start();
    const ends = Date.now() + o.durationS * 1000;

    say('Waiting for PostgreSQL to hold the daily closes, then correlating the symbols…');
    await waitForCatchUp(kafka, config, ['postgres'], Math.max(5000, ends - Date.now()));
    const correlations = await createCorrelationAnalyzer({ config, logger, publisher, pool, maxRuns: 1 }).runOnce();
    say(`Correlation analyzer: ${correlations.above} of ${correlations.pairs} pairs with |r| ≥ ${config.CORRELATION_THRESHOLD} ` +
      `over ${config.CORRELATION_WINDOW_DAYS} days → CORRELATED_WITH.`);

    await new Promise((r) => setTimeout(r, Math.max(0, ends - Date.now())));
    await producer.stop();
    await loop;
    say(`Published ${producer.totals.published} live price updates. Letting the groups catch up…`);
    await waitForCatchUp(kafka, config, sinkNames, 90_000);
  } finally {
    obs.stopping();
    await competitors.close();
    await pool.end();
    await publisher.disconnect();
    await sinks.stop();
    await obs.close();
  }
}

/**
 * The calendar of the demo's live ticks: the configured one while it trades for the whole run (the ticks then continue
 * the backfilled series), else 24x7, so the demo shows live prices at night and on weekends too.
 */
export function liveCalendar(configured: CalendarName, now: number, durationMs: number): CalendarName {
  if (configured === '24x7') return configured;
  const session = US_CALENDAR.sessionAt(now);
  return session && now + durationMs <= session.close ? configured : '24x7';
}

/** Waits until each group has committed up to the end of the topics it reads, or the limit. */
async function waitForCatchUp(kafka: Kafka, config: Config, names: readonly (typeof sinkNames)[number][], limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  for (const n of names) {
    // Two quiet looks in a row: the enricher's output (graph-mutations) reaches neo4j-sink after the enricher caught up.
    for (let quiet = 0; quiet < 2 && Date.now() < until;) {
      const lag = await totalLag(kafka, groupIdOf(config, n), sinkTopicNames(config, n));
      quiet = lag === 0 ? quiet + 1 : 0;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
