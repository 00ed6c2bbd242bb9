// The enricher (market-events → classification → graph-mutations, and the enrichment of market_events) against the
// real Kafka, registry and PostgreSQL, with Claude played by a local stand-in (test/helpers/fake-anthropic.ts), and
// without ANTHROPIC_API_KEY (the rule-based classifier). Both run the sink contract: every event is classified, its
// MarketEvent node and AFFECTS relationships are published (read back decoded from the isolated graph-mutations
// topic) and its row enriched; a replay of market-events rewrites no row and asks Claude nothing; bad records go to
// the DLQ; a tombstone withdraws the event (AFFECTS deletes, a MarketEvent tombstone, its row removed); a PostgreSQL
// outage pauses the group. Claude is asked once per event throughout, and every call reaches the process metrics.
// An event is linked only to companies its source lists or its text names (order-and-links.int.test.ts covers that rule).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Classification } from '../../../consumers/enricher/types.ts';
import { headersToStrings } from '../../../lib/record-headers.ts';
import { processMetrics } from '../../../lib/metrics.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../../schemas/types.generated.ts';
import { validateGraphMutation } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic, type RecordedRequest } from '../../helpers/fake-anthropic.ts';
import { deleteEventRows, eventFactory, randomName, randomSymbol, readTopic, testConfig, waitFor } from '../../helpers/index.ts';
import { sinkUnderTest } from '../contract/harness.ts';
import { sinkContract } from '../contract/suite.ts';

/** A ticker no event names and the graph does not hold: Claude names it, the enricher must not link to it. */
const UNLISTED = randomSymbol();
const RATIONALE = 'A new product launch that supports the company\'s sales.';
/** Claude's answer to a request: the first ticker the event lists, and UNLISTED. */
function claudeAnswer(req: RecordedRequest) {
  const listed = /<tickers_listed_by_source>([^<]*)</.exec(JSON.stringify(req.body))?.[1]?.split(', ') ?? [];
  return toolUseResponse({
    type: 'product', sentiment: 'positive', sentiment_score: 0.6,
    affected: [{ symbol: listed[0], relevance: 0.9 }, { symbol: UNLISTED, relevance: 0.4 }], rationale: RATIONALE,
  });
}

/** Headlines the rules classify differently, with their tickers; each event's id is appended, so a Claude request names its event. */
const HEADLINES: ReadonlyArray<readonly [string, string[]]> = [
  ['Apple unveils new iPhone lineup, shares climb', ['AAPL']],
  ['Microsoft downgraded as Nvidia chip shortage hits cloud growth', ['MSFT', 'NVDA']],
  ['Microsoft sued over licensing', ['MSFT']],
];

interface Published { key: string | null; value: GraphMutation | null; headers: Record<string, string> }

let pool: Pool;
let driver: Driver;
beforeAll(async () => {
  pool = createPgPool(testConfig(), { max: 2 });
  await migrate(pool);
  driver = createNeo4jDriver(testConfig());
});
afterAll(async () => {
  await pool?.end();
  await driver?.close();
});

async function rows(ids: readonly string[]) {
  const { rows: r } = await pool.query(
    `SELECT id, symbols, headline, type, sentiment, sentiment_score, rationale, classifier, model, enriched_at, xmin::text AS version
     FROM market_events WHERE id = ANY($1) ORDER BY id`, [ids]);
  return r;
}
async function classifications(ids: readonly string[]): Promise<{ event_id: string; classification: Classification; version: string }[]> {
  const { rows: r } = await pool.query(
    'SELECT event_id, classification, classifier, model, fallback_reason, xmin::text AS version FROM event_classifications ' +
      'WHERE event_id = ANY($1) ORDER BY event_id', [ids]);
  return r;
}

/** A mutation as the enricher must publish it: valid for the graph, keyed by its entity, from the enricher. */
function expectWellFormed(out: readonly Published[]) {
  for (const o of out) {
    expect(o.value).not.toBeNull();
    expect(o.key).toBe(graphMutationKey(o.value!));
    expect(validateGraphMutation(o.value!, Date.now())).toBeNull();
    expect(o.value!.origin).toBe('enricher');
    expect(o.headers.source).toBe('enricher');
  }
}
/** The companies an event may be linked to: those it names, and those the graph holds. */
async function linkable(e: MarketEvent, c: Classification): Promise<string[]> {
  const unnamed = c.affected.map((a) => a.symbol).filter((s) => !e.symbols.includes(s));
  const { records } = await driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $unnamed RETURN c.symbol AS s', { unnamed });
  const known = records.map((r) => r.get('s') as string);
  return c.affected.map((a) => a.symbol).filter((s) => e.symbols.includes(s) || known.includes(s));
}
const about = (id: string) => (o: Published) => o.key === `MarketEvent:${id}` || (o.key?.startsWith(`AFFECTS:${id}:`) ?? false);

function enricherContract(mode: 'claude' | 'rules') {
  describe(mode === 'claude' ? 'enricher with Claude' : 'enricher without ANTHROPIC_API_KEY (rule-based classifier)', () => {
    let fake: FakeAnthropic | undefined;
    beforeAll(async () => {
      if (mode !== 'claude') return;
      fake = await startFakeAnthropic();
      fake.setDefault(claudeAnswer);
    });
    const sut = sinkUnderTest('enricher', {
      config: () => (fake ? { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1 } : { ANTHROPIC_API_KEY: '' }),
    });
    const events = eventFactory({ summary: null, category: null });
    afterAll(async () => {
      await fake?.close();
      await deleteEventRows(pool, events.ids);
    });
    const model = () => (mode === 'claude' ? sut.config.ANTHROPIC_MODEL : 'rules-v1');
    const claudeRequestsAbout = (id: string) => fake?.requests.filter((r) => JSON.stringify(r.body).includes(id)).length ?? 0;

    /** Everything on the isolated graph-mutations topic so far, decoded. */
    async function published(): Promise<Published[]> {
      const topic = sut.topics.mutations;
      return Promise.all((await readTopic(sut.kafka, topic.name)).map(async (m) => ({
        key: m.key?.toString() ?? null,
        value: m.value ? (await sut.serde.decode(topic, m.value)).value : null,
        headers: headersToStrings(m.headers),
      })));
    }

    /**
     * Each event's classification stored once; its MarketEvent node and one AFFECTS per company it may be linked to
     * published once. The rows are written before the mutations are sent, and the offsets committed after: so once the
     * group has caught up, everything is on the topic.
     */
    async function verifyPublished(es: readonly MarketEvent[]) {
      await sut.settle('events');
      const stored = new Map((await classifications(es.map((e) => e.id))).map((r) => [r.event_id, r.classification]));
      const out = await published();
      for (const e of es) {
        const c = stored.get(e.id)!;
        expect(c).toMatchObject({ classifier: mode, model: model() });
        const linked = await linkable(e, c);
        const mine = out.filter(about(e.id));
        expectWellFormed(mine);
        expect(mine.map((o) => o.key).sort()).toEqual([`MarketEvent:${e.id}`, ...linked.map((s) => `AFFECTS:${e.id}:${s}`)].sort());
        const node = mine.find((o) => o.key === `MarketEvent:${e.id}`)!.value!.op;
        expect('UpsertNode' in node && node.UpsertNode.properties).toMatchObject({
          type: c.type, sentiment: c.sentiment, sentiment_score: c.sentimentScore, rationale: c.rationale, classifier: mode, model: model(),
          headline: e.headline, published_at: new Date(e.publishedAt).toISOString(), source: e.source,
        });
        for (const a of c.affected.filter((x) => linked.includes(x.symbol))) {
          const op = mine.find((o) => o.key === `AFFECTS:${e.id}:${a.symbol}`)!.value!.op;
          expect('UpsertRelationship' in op && op.UpsertRelationship.properties).toEqual({ relevance: a.relevance });
        }
        if (mode === 'claude') {
          expect(claudeRequestsAbout(e.id)).toBe(1);
          // The cache keeps Claude's whole answer; the unlisted ticker is not linked.
          expect(c).toMatchObject({
            type: 'product', sentimentScore: 0.6, rationale: RATIONALE,
            affected: [{ symbol: e.symbols[0], relevance: 0.9 }, { symbol: UNLISTED, relevance: 0.4 }],
          });
          expect(linked).toEqual([e.symbols[0]]);
        }
      }
      if (mode === 'rules') {
        expect(stored.get(es[0]!.id)).toMatchObject({ type: 'product', sentiment: 'positive' });
        expect(stored.get(es[1]!.id)!.affected.map((a) => a.symbol)).toEqual(expect.arrayContaining(['MSFT', 'NVDA']));
      }
    }

    /** A withdrawn event: an AFFECTS delete for (at least) every company it was linked to, then a tombstone for its node. */
    async function verifyWithdrawn(id: string) {
      await sut.settle('events');
      const out = (await published()).filter(about(id));
      const links = out.filter((o) => o.value && 'UpsertRelationship' in o.value.op).map((o) => o.key);
      const deletes = out.filter((o) => o.value && 'DeleteRelationship' in o.value.op);
      expectWellFormed(deletes);
      expect(links.length).toBeGreaterThan(0);
      expect(deletes.map((o) => o.key)).toEqual(expect.arrayContaining(links));
      expect(out.filter((o) => o.value === null).map((o) => o.key)).toEqual([`MarketEvent:${id}`]);
    }

    /** Fresh events under fresh ids (two for 'few', three for 'many'), and how to see them in the stores. */
    function scenario(size: 'few' | 'many') {
      const es = HEADLINES.slice(0, size === 'few' ? 2 : 3).map(([headline, symbols]) => {
        const id = randomName('evt');
        return events.newEvent({ id, headline: `${headline} (${id})`, symbols });
      });
      const ids = es.map((e) => e.id);
      return {
        records: es,
        keys: ids,
        landed: async () => {
          const r = await rows(ids);
          return r.length === ids.length && r.every((x) => x.enriched_at !== null && x.classifier === mode && x.model === model());
        },
        held: async () => (await rows(ids)).map((r) => r.id as string).sort(),
        // xmin changes whenever a row is rewritten; the request counts change if Claude is asked again.
        snapshot: async () => ({ rows: await rows(ids), classifications: await classifications(ids), claudeRequests: ids.map(claudeRequestsAbout) }),
        verify: () => verifyPublished(es),
        verifyDeleted: verifyWithdrawn,
      };
    }

    sinkContract(sut, {
      noun: 'market event',
      topic: 'events',
      tombstones: 'delete',
      scenario,
      invalid: () => ({ value: { ...events.newEvent(), id: 'not an id!' }, reason: /is not an event id/ }),
    });

    if (mode === 'claude') {
      it('asks Claude once per event through a replay, bad records and an outage, and counts every call in the metrics', async () => {
        // Its own events through each (the contract above does the same for its own): classified, replayed, with bad
        // records beside them, and more sent while PostgreSQL is down (the group fetches them and fails to write twice).
        await sut.start();
        const first = scenario('many');
        await sut.publisher.send(sut.topics.events, first.records, { source: 'test' });
        await waitFor(() => first.landed(), { what: 'the first events classified', timeoutMs: 60_000 });
        await sut.sendRaw('events', [{ key: first.keys[0]!, value: Buffer.from('not avro at all') }]);
        await sut.deadLetters('events', first.keys, 1);
        await sut.replay('events');
        await sut.settle('events');
        const second = scenario('many');
        sut.proxy.cut();
        try {
          const retried = sut.retries('events');
          await sut.publisher.send(sut.topics.events, second.records, { source: 'test' });
          await waitFor(() => sut.retries('events') >= retried + 2, { what: 'the enricher to fail to write twice', timeoutMs: 60_000, intervalMs: 100 });
        } finally {
          sut.proxy.restore();
        }
        await waitFor(() => second.landed(), { what: 'the events sent during the outage classified', timeoutMs: 90_000 });
        await sut.settle('events');
        expect([...first.keys, ...second.keys].map(claudeRequestsAbout)).toEqual(Array(6).fill(1));

        const classified = (await classifications(events.ids)).map((r) => r.event_id);
        expect(classified.length).toBeGreaterThan(5);
        expect(classified.map(claudeRequestsAbout)).toEqual(classified.map(() => 1));
        expect(fake!.requests).toHaveLength(classified.length);
        expect(await processMetrics().scrape())
          .toMatch(new RegExp(`marketstream_claude_requests_total\\{model="${model()}",outcome="ok"\\} ${classified.length}\\n`));
      });
    }
  });
}

enricherContract('claude');
enricherContract('rules');
