// The enricher's event classifier: Claude when ANTHROPIC_API_KEY is set (rule-based fallback built in), the
// rule-based classifier otherwise; either way cached by event id in PostgreSQL, and claimed there by one member at a
// time while it is classified (./cache.ts). The Kafka consumer wraps this.
// Claude's hourly budget is kept in PostgreSQL under one scope (the enricher's consumer group id), so every member,
// in every process, `enrich reclassify` and the graph producers' competitor finders spend from one allowance
// (lib/claude/shared-budget.ts).
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { createCachedClassifier, type ClassifyOptions } from './cache.ts';
import { createClaudeClassifier, type ClaudeCall, type ClaudeClassifier, type ClaudeClassifierOptions } from './claude-classifier.ts';
import { claudeBudgetScope, claudeOptionsFromConfig, createSharedBudget, type ClaudeClientOptions } from '../../lib/claude/index.ts';
import { createRulesClassifier, RULES_MODEL, type RulesOptions } from './rules-classifier.ts';
import type { Classification, EventToClassify } from './types.ts';

export type { Classification, EventToClassify } from './types.ts';
export type { ClaudeCall, ClaudeClassifier } from './claude-classifier.ts';
export { requestEstimate, type RequestEstimate } from './claude-classifier.ts';
export type { CallOutcome } from '../../lib/claude/index.ts';
export type { ClassifyOptions } from './cache.ts';
export { createRulesClassifier, RULES_MODEL } from './rules-classifier.ts';

export interface EventClassifier {
  /** Which classifier answers first: 'claude' (falls back to rules when it must) or 'rules'. */
  readonly primary: 'claude' | 'rules';
  /** Cached by event id: a known event is answered from PostgreSQL without classifying again. */
  classify(event: EventToClassify, opts?: ClassifyOptions): Promise<Classification>;
  close(): Promise<void>;
}

export interface CreateClassifierDeps {
  config: Config;
  logger: Logger;
  /** The caller's pool; the classifier never ends it. */
  pool: Pool;
  /** Called after each Claude request with its tokens, cost, latency and outcome (metrics). */
  onCall?: (call: ClaudeCall) => void;
  rules?: RulesOptions;
  /** Overrides of the Claude settings taken from config (tests, tuning). */
  claude?: Partial<Omit<ClaudeClassifierOptions, 'logger' | 'rules' | 'onCall'>>;
}

/** Who shares the Claude hourly budget: every process that calls Claude (lib/claude/shared-budget.ts). */
export { claudeBudgetScope };

/**
 * The enricher's Claude classifier (config, then `overrides`), spending from the group's shared budget in `pool`;
 * answers that Claude cannot give come from the rules, with `fallbackReason`. Used by the enricher (behind the cache)
 * and by `enrich reclassify` (which stores only Claude's answers).
 */
export function createEnricherClaude(deps: {
  config: Config; logger: Logger; pool: Pool; rules?: RulesOptions; onCall?: (call: ClaudeCall) => void;
  overrides?: Partial<Omit<ClaudeClassifierOptions, 'logger' | 'rules' | 'onCall'>>;
}): { claude: ClaudeClassifier; options: Omit<ClaudeClientOptions, 'logger'> & { budgetWhere: string } } {
  const options = { ...claudeOptionsFromConfig(deps.config), ...deps.overrides };
  const budgetStore = options.budgetStore
    ?? createSharedBudget({ pool: deps.pool, scope: claudeBudgetScope(deps.config), limits: options.budget, logger: deps.logger });
  const claude = createClaudeClassifier({
    ...options, budgetStore, logger: deps.logger, rules: createRulesClassifier(deps.rules), ...(deps.onCall ? { onCall: deps.onCall } : {}),
  });
  return { claude, options: { ...options, budgetWhere: budgetStore.where } };
}

export function createClassifier(deps: CreateClassifierDeps): EventClassifier {
  const logger = deps.logger.child({ component: 'enricher-classifier' });
  const rules = createRulesClassifier(deps.rules);
  let classify: (event: EventToClassify) => Promise<Classification>;
  let close = async () => {};
  let primary: 'claude' | 'rules';

  if (deps.config.ANTHROPIC_API_KEY) {
    const { claude, options } = createEnricherClaude({
      config: deps.config, logger, pool: deps.pool, ...(deps.rules ? { rules: deps.rules } : {}),
      ...(deps.onCall ? { onCall: deps.onCall } : {}), ...(deps.claude ? { overrides: deps.claude } : {}),
    });
    classify = (e) => claude.classify(e);
    close = () => claude.close();
    primary = 'claude';
    logger.info({
      classifier: 'claude', model: options.model, baseURL: options.baseURL ?? 'https://api.anthropic.com', maxConcurrency: options.maxConcurrency,
      hourlyTokenBudget: options.budget.tokensPerHour, hourlyCostBudgetUsd: options.budget.costUsdPerHour, budget: options.budgetWhere,
    }, `event classifier: Claude (${options.model}), rule-based (${RULES_MODEL}) as fallback; hourly budget kept in ${options.budgetWhere}`);
  } else {
    classify = async (e) => rules.classify(e);
    primary = 'rules';
    logger.info({ classifier: 'rules', model: RULES_MODEL }, `event classifier: rule-based (${RULES_MODEL}) — ANTHROPIC_API_KEY is not set`);
  }

  const cached = createCachedClassifier({
    pool: deps.pool, classify, logger, claims: { ttlMs: deps.config.ENRICHER_CLAIM_TTL_MS, waitMs: deps.config.ENRICHER_CLAIM_WAIT_MS },
  });
  return {
    primary,
    classify: (event, opts) => cached.classifyCached(event, opts),
    close,
  };
}
