// Picks the competitor finder: Claude when ANTHROPIC_API_KEY is set (same-industry peers as its fallback),
// the same-industry peers alone otherwise.
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import { claudeCompetitorOptionsFromConfig, createClaudeCompetitorFinder, type ClaudeCompetitorOptions, type CompetitorCall } from './claude-competitors.ts';
import { createPeerFinder, type CompetitorFinder } from './competitors.ts';

export function createCompetitorFinder(deps: {
  config: Config;
  logger: Logger;
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
  logger.info({ source: 'claude', model: options.model }, `competitors: Claude (${options.model}), same-industry peers as fallback`);
  return createClaudeCompetitorFinder({ ...options, logger, onCall: deps.onCall });
}
