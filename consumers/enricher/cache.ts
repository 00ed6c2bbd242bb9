// Classifications cached by event id in PostgreSQL (event_classifications), so a replay never asks Claude again.
//
// - A cached row is returned without calling the classifier.
// - Concurrent calls for one id in this process share one classification (single-flight).
// - Across processes (members): before classifying an event a member claims its id in PostgreSQL
//   (classification_claims, a row per id with an expiry: ENRICHER_CLAIM_TTL_MS, renewed while the classifier works).
//   A member that finds a live claim of another waits for that member's answer in the cache (polling), and takes the
//   claim over when it expires (its holder died) or after ENRICHER_CLAIM_WAIT_MS. So two members given the same event
//   at once (a rebalance, a stale member still working on a partition it lost) ask Claude once. The claim goes when
//   the answer is stored, or when the classifier fails (then the next member asks). An explicit refresh takes no claim.
//   The answer is stored with INSERT … ON CONFLICT DO NOTHING, then read back, so every process returns the row that
//   won (a taken-over claim whose first holder answers after all).
// - Rule-based fallbacks (budget spent, API failing, invalid output) ARE cached, marked with fallback_reason, so a
//   replay never bills Claude for them; `classifyCached(event, { refresh: true })` (an explicit re-enrich)
//   classifies again and overwrites. `marketstream enrich reclassify` (./reclassify.ts) is the operator's way to ask
//   Claude about them (or to choose another model on purpose): the rows record classifier and model for that.
// - If PostgreSQL fails after a classification was made, the answer is kept in memory (bounded) and the next
//   attempt for that id stores it instead of asking Claude again; the error is thrown as retriable (the runner pauses).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Takes the claim on an id: a new one, one this member holds, an expired one, or (`$4`) any. A row back: claimed. */
const CLAIM = `INSERT INTO classification_claims AS c (event_id, claimed_by, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3::float8 / 1000))
ON CONFLICT (event_id) DO UPDATE SET claimed_by = EXCLUDED.claimed_by, claimed_at = now(), expires_at = EXCLUDED.expires_at
  WHERE c.claimed_by = EXCLUDED.claimed_by OR c.expires_at <= now() OR $4::boolean
RETURNING c.event_id`;
const RENEW = 'UPDATE classification_claims SET expires_at = now() + make_interval(secs => $3::float8 / 1000) WHERE event_id = $1 AND claimed_by = $2';
const RELEASE = 'DELETE FROM classification_claims WHERE event_id = $1 AND claimed_by = $2';

/** How members share the work of classifying one event (see the top of this file). */
export interface ClaimOptions {
  /** How long a claim lasts unless renewed (ENRICHER_CLAIM_TTL_MS). */
  ttlMs: number;
  /** Longest wait for another member's answer before taking its claim over (ENRICHER_CLAIM_WAIT_MS). */
  waitMs: number;
  /** How often a waiting member looks for the answer. Default 200 ms. */
  pollMs?: number;
}

export const DEFAULT_CLAIMS: ClaimOptions = { ttlMs: 30_000, waitMs: 120_000 };

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
  claims?: ClaimOptions;
}): CachedClassifier {
  const store = createClassificationStore(deps.pool, deps.logger);
  const claims = { pollMs: 200, ...(deps.claims ?? DEFAULT_CLAIMS) };
  /** This member, as its claims name it. */
  const me = randomUUID();
  const release = (id: string) => deps.pool.query(RELEASE, [id, me]).then(() => {}, (err: unknown) =>
    deps.logger.debug({ eventId: id, err: (err as Error).message }, 'cannot remove the claim; it expires'));

  /**
   * Claims `id`, or waits for the answer of the member that holds it: null when this member holds the claim (and no
   * answer is stored yet), else the stored answer.
   */
  async function claimOrWait(id: string): Promise<Classification | null> {
    const deadline = Date.now() + claims.waitMs;
    let waiting = false;
    for (;;) {
      const force = Date.now() >= deadline;
      const { rows } = await deps.pool.query(CLAIM, [id, me, claims.ttlMs, force]);
      if (rows[0]) {
        if (waiting) {
          deps.logger.warn({ eventId: id, waitedMs: Date.now() - deadline + claims.waitMs, expired: !force },
            force ? 'no answer from the member that claimed this event in time: taking its claim over' : 'claim on this event expired: taking it over');
        }
        // The holder may have stored its answer and gone between our cache miss and our claim.
        const stored = await store.get(id);
        if (stored) await release(id);
        return stored;
      }
      const stored = await store.get(id);
      if (stored) return stored;
      if (!waiting) deps.logger.debug({ eventId: id }, 'another member is classifying this event: waiting for its answer');
      waiting = true;
      await sleep(claims.pollMs);
    }
  }

  /** Classifies while holding the claim on the event, renewed so it does not expire while the classifier works. */
  async function classifyClaimed(event: EventToClassify): Promise<Classification> {
    const renew = setInterval(() => {
      deps.pool.query(RENEW, [event.id, me, claims.ttlMs]).catch(() => {});
    }, Math.max(100, Math.floor(claims.ttlMs / 3)));
    renew.unref();
    try {
      return await deps.classify(event);
    } catch (err) {
      await release(event.id);
      throw err;
    } finally {
      clearInterval(renew);
    }
  }
  const inflight = new Map<string, Promise<Classification>>();
  const unsaved = new Map<string, Classification>();
  let migrated: Promise<unknown> | undefined;

  const ensureSchema = () => (migrated ??= migrate(deps.pool).catch((err) => { migrated = undefined; throw err; }));

  async function run(event: EventToClassify, refresh: boolean): Promise<Classification> {
    const kept = unsaved.get(event.id);
    let claimed = false;
    try {
      await ensureSchema();
      if (!refresh) {
        const cached = await store.get(event.id);
        if (cached) {
          deps.logger.debug({ eventId: event.id, classifier: cached.classifier }, 'classification from cache');
          return cached;
        }
        if (!kept) {
          const answered = await claimOrWait(event.id);
          if (answered) return answered;
          claimed = true;
        }
      }
    } catch (err) {
      throw classifyPgError(err);
    }
    const c = kept ?? { ...await (claimed ? classifyClaimed(event) : deps.classify(event)), classifiedAt: Date.now() };
    try {
      const stored = refresh ? (await store.put(event.id, c), c) : await store.putIfAbsent(event.id, c);
      unsaved.delete(event.id);
      if (claimed || kept) await release(event.id);
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
