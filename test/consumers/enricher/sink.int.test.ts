// The enricher (market-events → classification → graph-mutations, and the enrichment of market_events) against the
// real Kafka, registry and PostgreSQL, with Claude played by a local stand-in (test/helpers/fake-anthropic.ts), and
// without ANTHROPIC_API_KEY (the rule-based classifier). Both run the sink contract: every event is classified, its
// MarketEvent node and AFFECTS relationships are published (read back decoded from the isolated graph-mutations
// topic) and its row enriched; a replay of market-events rewrites no row and asks Claude nothing; bad records go to
// the DLQ; a tombstone withdraws the event (AFFECTS deletes, a MarketEvent tombstone, its row removed); a PostgreSQL
// outage pauses the group. Claude is asked once per event throughout, and every call reaches the process metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Classification } from '../../../consumers/enricher/types.ts';
import { headersToStrings } from '../../../lib/dlq.ts';
import { processMetrics } from '../../../lib/metrics.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../../schemas/types.generated.ts';
import { validateGraphMutation } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { deleteEventRows, eventFactory, randomName, readTopic, testConfig } from '../../helpers/index.ts';
import { sinkUnderTest } from '../contract/harness.ts';
import { sinkContract } from '../contract/suite.ts';

const CLAUDE_ANSWER = {
  type: 'product', sentiment: 'positive', sentiment_score: 0.6,
  affected: [{ symbol: 'AAPL', relevance: 0.9 }, { symbol: 'TSM', relevance: 0.4 }],
  rationale: 'A new product launch that supports Apple sales.',
};

/** Headlines the rules classify differently, with their tickers; each event's id is appended, so a Claude request names its event. */
const HEADLINES: ReadonlyArray<readonly [string, string[]]> = [
  ['Apple unveils new iPhone lineup, shares climb', ['AAPL']],
  ['Microsoft downgraded as Nvidia chip shortage hits cloud growth', ['MSFT', 'NVDA']],
  ['Microsoft sued over licensing', ['MSFT']],
];

interface Published { key: string | null; value: GraphMutation | null; headers: Record<string, string> }

let pool: Pool;
beforeAll(async () => {
  pool = createPgPool(testConfig(), { max: 2 });
  await migrate(pool);
});
afterAll(async () => { await pool?.end(); });

async function rows(ids: readonly string[]) {
  const { rows: r } = await pool.query(
    `SELECT id, symbols, headline, type, sentiment, sentiment_score, rationale, classifier, model, enriched_at, xmin::text AS version
     FROM market_events WHERE id = ANY($1) ORDER BY id`, [ids]);
  return r;
}
async function classifications(ids: readonly string[]): Promise<{ event_id: string; classification: Classification; version: string }[]> {
  const { rows: r } = await pool.query(
    'SELECT event_id, classification, classifier, model, fallback_reason, xmin::text AS version FROM event_classifications WHERE event_id = ANY($1) ORDER BY event_id', [ids]);
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
const about = (id: string) => (o: Published) => o.key === `MarketEvent:${id}` || (o.key?.startsWith(`AFFECTS:${id}:`) ?? false);

function enricherContract(mode: 'claude' | 'rules') {
  describe(mode === 'claude' ? 'enricher with Claude' : 'enricher without ANTHROPIC_API_KEY (rule-based classifier)', () => {
    let fake: FakeAnthropic | undefined;
    beforeAll(async () => {
      if (mode !== 'claude') return;
      fake = await startFakeAnthropic();
      fake.setDefault(() => toolUseResponse(CLAUDE_ANSWER));
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

    /** Each event's classification stored once, its MarketEvent node and one AFFECTS per affected company published once. */
    async function verifyPublished(es: readonly MarketEvent[]) {
      const stored = new Map((await classifications(es.map((e) => e.id))).map((r) => [r.event_id, r.classification]));
      const out = await published();
      for (const e of es) {
        const c = stored.get(e.id)!;
        expect(c).toMatchObject({ classifier: mode, model: model() });
        const mine = out.filter(about(e.id));
        expectWellFormed(mine);
        expect(mine.map((o) => o.key).sort()).toEqual([`MarketEvent:${e.id}`, ...c.affected.map((a) => `AFFECTS:${e.id}:${a.symbol}`)].sort());
        const node = mine.find((o) => o.key === `MarketEvent:${e.id}`)!.value!.op;
        expect('UpsertNode' in node && node.UpsertNode.properties).toMatchObject({
          type: c.type, sentiment: c.sentiment, sentiment_score: c.sentimentScore, rationale: c.rationale, classifier: mode, model: model(),
          headline: e.headline, published_at: new Date(e.publishedAt).toISOString(), source: e.source,
        });
        for (const a of c.affected) {
          const op = mine.find((o) => o.key === `AFFECTS:${e.id}:${a.symbol}`)!.value!.op;
          expect('UpsertRelationship' in op && op.UpsertRelationship.properties).toEqual({ relevance: a.relevance });
        }
        if (mode === 'claude') {
          expect(claudeRequestsAbout(e.id)).toBe(1);
          expect(c).toMatchObject({ type: 'product', sentimentScore: 0.6, rationale: CLAUDE_ANSWER.rationale, affected: CLAUDE_ANSWER.affected });
        }
      }
      if (mode === 'rules') {
        expect(stored.get(es[0]!.id)).toMatchObject({ type: 'product', sentiment: 'positive' });
        expect(stored.get(es[1]!.id)!.affected.map((a) => a.symbol)).toEqual(expect.arrayContaining(['MSFT', 'NVDA']));
      }
    }

    /** A withdrawn event: an AFFECTS delete per company it was known to affect, then a tombstone for its node. */
    async function verifyWithdrawn(id: string) {
      const [stored] = await classifications([id]);
      const out = (await published()).filter(about(id));
      const deletes = out.filter((o) => o.value && 'DeleteRelationship' in o.value.op);
      expectWellFormed(deletes);
      expect(deletes.map((o) => o.key).sort()).toEqual(stored!.classification.affected.map((a) => `AFFECTS:${id}:${a.symbol}`).sort());
      expect(out.filter((o) => o.value === null).map((o) => o.key)).toEqual([`MarketEvent:${id}`]);
    }

    sinkContract(sut, {
      noun: 'market event',
      topic: 'events',
      tombstones: 'delete',
      scenario(size) {
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
      },
      invalid: () => ({ value: { ...events.newEvent(), id: 'not an id!' }, reason: /is not an event id/ }),
    });

    if (mode === 'claude') {
      it('asked Claude once per event through the replay, the DLQ and the outage above, and counted every call in the metrics', async () => {
        const classified = (await classifications(events.ids)).map((r) => r.event_id);
        expect(classified.length).toBeGreaterThan(5);
        expect(classified.map(claudeRequestsAbout)).toEqual(classified.map(() => 1));
        expect(fake!.requests).toHaveLength(classified.length);
        expect(await processMetrics().scrape()).toMatch(new RegExp(`marketstream_claude_requests_total\\{model="${model()}",outcome="ok"\\} ${classified.length}\\n`));
      });
    }
  });
}

enricherContract('claude');
enricherContract('rules');
