// Picks the competitor finder: Claude when ANTHROPIC_API_KEY is set (same-industry peers as its fallback),
// the same-industry peers alone otherwise. Claude spends from the hourly budget in PostgreSQL that every process
// calling Claude shares (scope claudeBudgetScope: the enricher group, `enrich reclassify`, every graph producer), so
// CLAUDE_HOURLY_* bound them all together, however many graph producers run.
import { claudeBudgetScope, createSharedBudget } from '../../lib/claude/index.ts';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { claudeCompetitorOptionsFromConfig, createClaudeCompetitorFinder, type ClaudeCompetitorOptions, type CompetitorCall } from './claude-competitors.ts';
import { createPeerFinder, type CompetitorFinder } from './competitors.ts';

export function createCompetitorFinder(deps: {
  config: Config;
  logger: Logger;
  /** Where the shared Claude budget is kept; required when ANTHROPIC_API_KEY is set. */
  pool?: Pool;
  /** Called after each Claude request with its tokens, cost, latency and outcome (metrics). */
  onCall?: (call: CompetitorCall) => void;
  /** Overrides of the Claude settings taken from config (tests, tuning). */
  claude?: Partial<Omit<ClaudeCompetitorOptions, 'logger' | 'onCall'>>;
}): CompetitorFinder {
  const logger = deps.logger.child({ component: 'competitors' });
  if (!deps.config.ANTHROPIC_API_KEY) {
    logger.info({ source: 'profile-industry' }, 'competitors: same-industry peers from the profiles — ANTHROPIC_API_KEY is not set');
    return createPeerFinder();
  }
  const options = { ...claudeCompetitorOptionsFromConfig(deps.config), ...deps.claude };
  if (!options.budgetStore && !deps.pool) throw new Error('the Claude competitor finder needs PostgreSQL: the Claude budget is shared there');
  const budgetStore = options.budgetStore
    ?? createSharedBudget({ pool: deps.pool!, scope: claudeBudgetScope(deps.config), limits: options.budget, logger });
  logger.info({ source: 'claude', model: options.model, budget: budgetStore.where }, `competitors: Claude (${options.model}), same-industry peers as fallback`);
  return createClaudeCompetitorFinder({ ...options, budgetStore, logger, onCall: deps.onCall });
}
