// `marketstream doctor`: every check at once, each bounded in time, in one report. The CLI renders it
// (cli/commands/doctor.ts); tests call runDoctor directly.
//
// Exit code: 0 when no check FAILed (warnings and info lines allowed), 1 when any did. What fails: a server that does
// not answer (or refuses our credentials), Node < 24, a partition without a leader, a tool the configured setup needs
// (see ./tools.ts). What warns: things that work but deserve a look (dead letters, a missing topic or subject, a
// compatibility other than BACKWARD, lag with no consumer, a tool only the local stack would need, a fallback price
// source answering in a running chain).
import type { Config } from '../../lib/config.ts';
import { maskSecrets } from '../../lib/logger.ts';
import { checkKafka } from './kafka.ts';
import { checkRegistry } from './registry.ts';
import { checkNeo4j, checkPostgres, checkRedis } from './servers.ts';
import { checkPriceSources } from './sources.ts';
import { findTool, nodeFinding, toolCheck, TOOL_NAMES } from './tools.ts';
import type { Check, CheckStatus, DoctorOptions, DoctorReport, LocalStackServer } from './types.ts';

export type { Check, CheckSection, CheckStatus, DoctorOptions, DoctorReport, LocalStackServer } from './types.ts';

export const DEFAULT_TIMEOUT_MS = 5000;

/** Claude: informational; the key itself is never shown. */
export function claudeCheck(config: Config): Check {
  const base = { id: 'claude', section: 'claude' as const, name: 'Claude', status: 'info' as const, ms: 0 };
  if (!config.ANTHROPIC_API_KEY) {
    return { ...base, summary: 'not configured (ANTHROPIC_API_KEY is empty): the enricher and the graph producer use their rule-based fallbacks',
      data: { configured: false } };
  }
  const endpoint = config.ANTHROPIC_BASE_URL ? ` via ${maskSecrets(config.ANTHROPIC_BASE_URL)}` : '';
  return { ...base, summary: `configured: model ${config.ANTHROPIC_MODEL}${endpoint}`,
    data: { configured: true, model: config.ANTHROPIC_MODEL, baseUrl: config.ANTHROPIC_BASE_URL ? maskSecrets(config.ANTHROPIC_BASE_URL) : null } };
}

export function exitCodeOf(checks: readonly Check[]): 0 | 1 {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

export async function runDoctor(config: Config, o: DoctorOptions = {}): Promise<DoctorReport> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const so = { timeoutMs, localStack: o.localStack };
  const [findings, kafka, registry, postgres, redis, neo4j, sources] = await Promise.all([
    Promise.all(TOOL_NAMES.map((t) => findTool(t, timeoutMs))),
    checkKafka(config, so),
    checkRegistry(config, so),
    checkPostgres(config, so),
    checkRedis(config, so),
    checkNeo4j(config, so),
    checkPriceSources(config, { timeoutMs, ...(o.healthUrl ? { healthUrl: o.healthUrl } : {}) }),
  ]);
  const servers = [kafka.server, registry.server, postgres, redis, neo4j];
  // The local stack's servers the configuration points at that do not answer: `stack up` would have to start them.
  const downLocal: LocalStackServer[] = servers
    .filter((c) => c.status === 'fail' && (c.data as { localStack?: boolean } | undefined)?.localStack)
    .flatMap((c) => o.localStack?.filter((s) => `server.${s.name}` === c.id).slice(0, 1) ?? []);
  const tools = [nodeFinding(), ...findings].map((f) => toolCheck(f, downLocal));
  const checks = [...tools, ...servers, ...registry.subjects, ...kafka.topics, ...kafka.groups, ...kafka.dlq, ...sources, claudeCheck(config)];
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, info: 0, skip: 0 };
  for (const c of checks) counts[c.status]++;
  return { version: o.version ?? null, checks, counts, exitCode: exitCodeOf(checks), ms: Date.now() - started };
}
