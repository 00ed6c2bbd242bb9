// `marketstream enrich reclassify`: ask Claude about events that were classified without it (the rule-based classifier:
// no API key, budget spent, API errors at the time), or by another model than the one chosen now, and upgrade them.
//
// 1. Plan: select the cached classifications (consumers/enricher/reclassify.ts), newest events first, up to --limit,
//    and cost them: the same estimate the budget reserves per request (input estimated from the text, output at its
//    maximum) × the price table. A dry run stops here.
// 2. Run: pages of events, each classified by the enricher's Claude classifier, spending from the enricher group's
//    shared hourly budget (so it cannot overspend what the live enricher also spends from). Only Claude's answers are
//    applied (market_events row, graph facts through graph-mutations, then the cache); an event Claude could not
//    answer keeps its classification and is listed. When the budget is spent (or Claude keeps failing: the circuit
//    opened), no more is asked: what is left stays selected for a later run.
import { neo4jDatabase, type Config } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import {
  costUsd, createSharedBudget, parsePriceOverride, priceOf, tokensOf, type BudgetLimits, type BudgetUsage, type ModelPrice,
} from '../../lib/claude/index.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, migrate } from '../../lib/stores/postgres.ts';
import type { GraphMutation } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, type TopicDef } from '../../topics/index.ts';
import { createClassificationStore } from '../../consumers/enricher/cache.ts';
import { claudeBudgetScope, createEnricherClaude, requestEstimate, type ClaudeCall, type ClaudeClassifier } from '../../consumers/enricher/classifier.ts';
import type { ClaudeClassifierOptions } from '../../consumers/enricher/claude-classifier.ts';
import {
  applyReclassified, candidatesByIds, selectCandidates, type Reclassified, type ReclassifyFrom, type ReclassifySelection,
} from '../../consumers/enricher/reclassify.ts';
import { toClassify } from '../../consumers/enricher/types.ts';

export interface ReclassifyOptions {
  config: Config;
  logger: Logger;
  /** Whose classifications to ask about again; default 'rules', or 'any' when `model` is given. */
  from?: ReclassifyFrom;
  /** The Claude model to ask; default ANTHROPIC_MODEL. */
  model?: string;
  /** Only events published at or after this time (epoch ms). */
  since?: number;
  symbols?: readonly string[];
  /** At most this many events (the newest). */
  limit?: number;
  dryRun?: boolean;
  /** graph-mutations, or an isolated copy (tests). */
  mutationsTopic?: TopicDef<GraphMutation>;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; perSecond: number }) => void;
  /** Claude client tuning (tests). */
  claude?: Partial<Omit<ClaudeClassifierOptions, 'logger' | 'rules' | 'onCall'>>;
}

export interface ReclassifyPlan {
  selection: ReclassifySelection;
  limit: number | null;
  /** Events Claude would be asked about. */
  events: number;
  /** Of them, by who classified them now. */
  byClassifier: { rules: number; claude: number };
  /** The budget's estimate: input from the text, output at its maximum; the cost at `price`. */
  estimate: { inputTokens: number; outputTokens: number; costUsd: number };
  price: ModelPrice;
  priceKnown: boolean;
  budget: { scope: string; limits: BudgetLimits; used: BudgetUsage };
}

export interface ReclassifyResult {
  plan: ReclassifyPlan;
  dryRun: boolean;
  /** Events now classified by Claude (cache, market_events and graph updated). */
  reclassified: number;
  /** Events Claude was asked about but could not answer (they keep their classification). */
  failed: Array<{ eventId: string; reason: string }>;
  /** Events not asked: the budget was spent, the circuit opened, or the run was stopped. */
  left: number;
  /** Events reclassified meanwhile by someone else (no longer selected). */
  skipped: number;
  stoppedBy: 'budget' | 'circuit-open' | 'signal' | null;
  spent: { requests: number; tokens: number; costUsd: number };
  mutations: number;
  ms: number;
}

/** Events classified per round: enough to keep every concurrency slot busy, small enough to lose little on a failure. */
const PAGE = 50;
const PLAN_PAGE = 500;

export function selectionOf(o: Pick<ReclassifyOptions, 'config' | 'from' | 'model' | 'since' | 'symbols'>): ReclassifySelection {
  return {
    from: o.from ?? (o.model ? 'any' : 'rules'),
    model: o.model ?? o.config.ANTHROPIC_MODEL,
    ...(o.since !== undefined ? { since: o.since } : {}),
    ...(o.symbols?.length ? { symbols: o.symbols } : {}),
  };
}

export async function reclassify(o: ReclassifyOptions): Promise<ReclassifyResult> {
  const started = Date.now();
  const logger = o.logger.child({ component: 'enrich-reclassify' });
  const selection = selectionOf(o);
  const { price, known } = priceOf(selection.model, parsePriceOverride(o.config.CLAUDE_PRICE_PER_MTOK));
  const limits = { tokensPerHour: o.config.CLAUDE_HOURLY_TOKEN_BUDGET, costUsdPerHour: o.config.CLAUDE_HOURLY_COST_BUDGET_USD };
  const scope = claudeBudgetScope(o.config);
  if (!o.dryRun && !o.config.ANTHROPIC_API_KEY) {
    throw new ConfigError('enrich reclassify asks Claude: set ANTHROPIC_API_KEY (or use --dry-run to see what it would ask)');
  }

  const pool = createPgPool(o.config, { max: 4, applicationName: 'marketstream-enrich-reclassify' });
  let driver: Driver | undefined;
  let publisher: Publisher | undefined;
  let claude: ClaudeClassifier | undefined;
  try {
    await migrate(pool);
    const budget = createSharedBudget({ pool, scope, limits, logger });

    // 1. Plan.
    const ids: string[] = [];
    const byClassifier = { rules: 0, claude: 0 };
    const estimate = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    for (let after: string | null = null; ;) {
      const want = o.limit === undefined ? PLAN_PAGE : Math.min(PLAN_PAGE, o.limit - ids.length);
      if (want <= 0) break;
      const page = await selectCandidates(pool, selection, { after, pageSize: want, logger });
      for (const c of page.candidates) {
        ids.push(c.event.id);
        byClassifier[c.current.classifier]++;
        const e = requestEstimate(toClassify(c.event));
        estimate.inputTokens += e.inputTokens;
        estimate.outputTokens += e.outputTokens;
        estimate.costUsd += costUsd({ ...tokensOf(undefined), ...e }, price);
      }
      if (!page.next) break;
      after = page.next;
    }
    const plan: ReclassifyPlan = {
      selection, limit: o.limit ?? null, events: ids.length, byClassifier, estimate, price, priceKnown: known,
      budget: { scope, limits, used: await budget.usage() },
    };
    const result: ReclassifyResult = {
      plan, dryRun: Boolean(o.dryRun), reclassified: 0, failed: [], left: 0, skipped: 0, stoppedBy: null,
      spent: { requests: 0, tokens: 0, costUsd: 0 }, mutations: 0, ms: 0,
    };
    if (o.dryRun || ids.length === 0) {
      result.ms = Date.now() - started;
      return result;
    }

    // 2. Run.
    const onCall = (c: ClaudeCall) => {
      result.spent.requests++;
      result.spent.tokens += c.inputTokens + c.outputTokens;
      result.spent.costUsd += c.costUsd;
    };
    ({ claude } = createEnricherClaude({
      config: { ...o.config, ANTHROPIC_MODEL: selection.model }, logger, pool, onCall,
      overrides: { ...o.claude, budgetStore: budget },
    }));
    const kafka = createKafka(o.config, logger, 'enrich-reclassify');
    const mutationsTopic = o.mutationsTopic ?? graphMutations;
    await ensureTopics(kafka, o.config, [mutationsTopic]);
    publisher = createPublisher({ kafka, serde: createSerde(o.config), logger });
    await publisher.connect();
    const graph = () => driver ?? (driver = createNeo4jDriver(o.config));
    const deps = { pool, store: createClassificationStore(pool, logger), graph, database: neo4jDatabase(o.config), publisher, mutationsTopic, logger };

    let done = 0;
    for (let i = 0; i < ids.length; i += PAGE) {
      if (o.signal?.aborted) { result.stoppedBy = 'signal'; break; }
      const pageIds = ids.slice(i, i + PAGE);
      const candidates = await candidatesByIds(pool, selection, pageIds, logger);
      result.skipped += pageIds.length - candidates.length;
      const c = claude;
      const answers = await Promise.allSettled(candidates.map((x) => c.classify(toClassify(x.event))));
      const upgraded: Reclassified[] = [];
      let unavailable: unknown;
      answers.forEach((a, k) => {
        const x = candidates[k]!;
        if (a.status === 'rejected') { unavailable ??= a.reason; result.left++; return; }
        const answer = a.value;
        if (answer.classifier === 'claude') { upgraded.push({ ...x, classification: answer }); return; }
        const reason = answer.fallbackReason ?? 'rules';
        if (reason === 'budget') { result.stoppedBy ??= 'budget'; result.left++; return; }
        if (reason.startsWith('api-error: circuit open')) { result.stoppedBy ??= 'circuit-open'; result.left++; return; }
        result.failed.push({ eventId: x.event.id, reason });
      });
      result.mutations += await applyReclassified(deps, upgraded);
      result.reclassified += upgraded.length;
      done += pageIds.length;
      o.onProgress?.({ done, total: ids.length, perSecond: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) });
      if (unavailable) throw unavailable;
      if (result.stoppedBy) break;
    }
    result.left += ids.length - done;
    result.ms = Date.now() - started;
    logger.info({
      reclassified: result.reclassified, failed: result.failed.length, left: result.left, stoppedBy: result.stoppedBy,
      requests: result.spent.requests, tokens: result.spent.tokens, costUsd: Number(result.spent.costUsd.toFixed(6)),
    }, 'reclassify done');
    return result;
  } finally {
    await claude?.close().catch(() => {});
    await publisher?.disconnect().catch(() => {});
    await driver?.close().catch(() => {});
    await pool.end().catch(() => {});
  }
}
