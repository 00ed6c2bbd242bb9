// What `doctor` reports: one check per line, each with a status and, when not ok, a hint that says what to do.

/**
 * ok: as expected. warn: works, but something deserves a look (exit code stays 0). fail: broken (exit code 1).
 * info: informational only (Claude). skip: not checked because what it depends on failed (Kafka, the registry).
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info' | 'skip';

export type CheckSection = 'tools' | 'servers' | 'registry' | 'topics' | 'groups' | 'dlq' | 'sources' | 'claude';

export interface Check {
  /** Stable id, e.g. `tool.java`, `server.redis`, `subject.price-updates-value`, `topic.price-updates`, `group.postgres`, `dlq.price-updates.dlq`. */
  id: string;
  section: CheckSection;
  /** What is checked, e.g. `Java`, `Redis`, `price-updates-value`. */
  name: string;
  status: CheckStatus;
  /** One line: what was found (never a secret: URLs have their password masked). */
  summary: string;
  /** What to do about it; set when the status is not ok. */
  hint?: string;
  /** The server's or the tool's version, when it could be read. */
  version?: string;
  /** Structured facts for --json (partitions, lag, counts…). */
  data?: Record<string, unknown>;
  /** How long the check took. */
  ms: number;
}

/** A tool the local stack needs to build or run its servers. */
export type ToolName = 'java' | 'maven' | 'go';

export type ServerName = 'kafka' | 'schema-registry' | 'postgres' | 'redis' | 'neo4j';

/**
 * One server of the local stack (`marketstream stack`), as the CLI knows it: where it listens, what it runs, whether
 * the stack's own process runs now, and which tools `stack up` needs to build or run it. ops/ cannot read stack/, so
 * the CLI passes this in.
 */
export interface LocalStackServer {
  name: ServerName;
  host: string;
  port: number;
  /** What the local stack runs, e.g. `Apache Kafka 4.4.0`. */
  product: string;
  version: string;
  /** The process `stack up` started (its pid file) is running. */
  running: boolean;
  /** Its log file, for the hint when it runs but does not answer. */
  logFile?: string;
  needs: readonly ToolName[];
}

export interface DoctorOptions {
  /** Longest time one check may take before it is reported as failed (default 5000 ms). */
  timeoutMs?: number;
  /** The local stack's servers; without it, nothing is attributed to the local stack. */
  localStack?: readonly LocalStackServer[];
  /** The package version, shown in the report. */
  version?: string;
  /** Where a running price producer's /health is (default: METRICS_HOST:METRICS_PORT). */
  healthUrl?: string;
}

export interface DoctorReport {
  version: string | null;
  checks: Check[];
  counts: Record<CheckStatus, number>;
  /** 0 when no check failed (warnings allowed), 1 otherwise. */
  exitCode: 0 | 1;
  ms: number;
}
