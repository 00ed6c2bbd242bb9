// Classifications cached by event id in PostgreSQL (event_classifications), so a replay never asks Claude again.
//
// - A cached row is returned without calling the classifier.
// - Concurrent calls for one id in this process share one classification (single-flight).
// - Across processes: INSERT … ON CONFLICT DO NOTHING, then read back, so every process returns the row that won.
//   Remaining window: two processes that both miss the cache at the same moment both call Claude (billed twice);
//   the later answer is discarded. Kafka keys market-events by event id, so one id is normally handled by one
//   group member at a time; the window is open mainly during a rebalance.
// - Rule-based fallbacks (budget spent, API failing, invalid output) ARE cached, marked with fallback_reason, so a
//   replay never bills Claude for them; `classifyCached(event, { refresh: true })` (an explicit re-enrich)
//   classifies again and overwrites. `marketstream enrich reclassify` (./reclassify.ts) is the operator's way to ask
//   Claude about them (or to choose another model on purpose): the rows record classifier and model for that.
// - If PostgreSQL fails after a classification was made, the answer is kept in memory (bounded) and the next
//   attempt for that id stores it instead of asking Claude again; the error is thrown as retriable (the runner pauses).
import { classifyPgError, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { Logger } from '../../lib/logger.ts';
import { classificationSchema, type Classification, type EventToClassify } from './types.ts';

export interface ClassifyOptions {
  /** Ignore the cache, classify again and overwrite the stored row (explicit re-enrich). */
  refresh?: boolean;
}

export interface CachedClassifier {
  classifyCached(event: EventToClassify, opts?: ClassifyOptions): Promise<Classification>;
}

export interface ClassificationStore {
  get(eventId: string): Promise<Classification | null>;
  /** Stores `c` unless a row exists; returns the stored row (another writer's if it came first). */
  putIfAbsent(eventId: string, c: Classification): Promise<Classification>;
  /** Stores `c`, replacing any row. */
  put(eventId: string, c: Classification): Promise<void>;
}

const UNSAVED_MAX = 1000;

const SELECT = 'SELECT classification FROM event_classifications WHERE event_id = $1';
const INSERT = `INSERT INTO event_classifications (event_id, classification, classifier, model, fallback_reason)
VALUES ($1, $2::jsonb, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING classification`;
const UPSERT = `INSERT INTO event_classifications AS e (event_id, classification, classifier, model, fallback_reason)
VALUES ($1, $2::jsonb, $3, $4, $5)
ON CONFLICT (event_id) DO UPDATE SET classification = EXCLUDED.classification, classifier = EXCLUDED.classifier,
  model = EXCLUDED.model, fallback_reason = EXCLUDED.fallback_reason, updated_at = now()`;

/** jsonb rejects NUL characters; nothing meaningful is lost by dropping them. */
const toJson = (c: Classification) => JSON.stringify(c).replace(/\\u0000/g, '');
const row = (id: string, c: Classification) => [id, toJson(c), c.classifier, c.model, c.fallbackReason ?? null];

export function createClassificationStore(pool: Pool, logger?: Logger): ClassificationStore {
  const parse = (id: string, value: unknown): Classification | null => {
    const r = classificationSchema.safeParse(value);
    if (!r.success) logger?.warn({ eventId: id, problem: r.error.issues[0]?.message }, 'cached classification is not valid any more: classifying again');
    return r.success ? r.data : null;
  };
  return {
    async get(eventId) {
      const { rows } = await pool.query<{ classification: unknown }>(SELECT, [eventId]);
      return rows[0] ? parse(eventId, rows[0].classification) : null;
    },
    async putIfAbsent(eventId, c) {
      const inserted = await pool.query<{ classification: unknown }>(INSERT, row(eventId, c));
      if (inserted.rows[0]) return c;
      // Another writer stored it first: its answer is the one everybody returns.
      const { rows } = await pool.query<{ classification: unknown }>(SELECT, [eventId]);
      return (rows[0] && parse(eventId, rows[0].classification)) ?? c;
    },
    async put(eventId, c) {
      await pool.query(UPSERT, row(eventId, c));
    },
  };
}

export function createCachedClassifier(deps: {
  pool: Pool;
  classify: (event: EventToClassify) => Promise<Classification>;
  logger: Logger;
}): CachedClassifier {
  const store = createClassificationStore(deps.pool, deps.logger);
  const inflight = new Map<string, Promise<Classification>>();
  const unsaved = new Map<string, Classification>();
  let migrated: Promise<unknown> | undefined;

  const ensureSchema = () => (migrated ??= migrate(deps.pool).catch((err) => { migrated = undefined; throw err; }));

  async function run(event: EventToClassify, refresh: boolean): Promise<Classification> {
    try {
      await ensureSchema();
      if (!refresh) {
        const cached = await store.get(event.id);
        if (cached) {
          deps.logger.debug({ eventId: event.id, classifier: cached.classifier }, 'classification from cache');
          return cached;
        }
      }
    } catch (err) {
      throw classifyPgError(err);
    }
    const c = unsaved.get(event.id) ?? { ...await deps.classify(event), classifiedAt: Date.now() };
    try {
      const stored = refresh ? (await store.put(event.id, c), c) : await store.putIfAbsent(event.id, c);
      unsaved.delete(event.id);
      return stored;
    } catch (err) {
      if (!unsaved.has(event.id)) {
        if (unsaved.size >= UNSAVED_MAX) unsaved.delete(unsaved.keys().next().value!);
        unsaved.set(event.id, c);
      }
      throw classifyPgError(err);
    }
  }

  return {
    classifyCached(event, opts = {}) {
      const pending = inflight.get(event.id);
      if (pending && !opts.refresh) return pending;
      const p = run(event, opts.refresh === true).finally(() => { if (inflight.get(event.id) === p) inflight.delete(event.id); });
      inflight.set(event.id, p);
      return p;
    },
  };
}
