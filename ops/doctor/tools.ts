// The tools: Node (what runs marketstream), and Java, Maven and Go, which only the local stack needs (Kafka and Neo4j
// run on the JVM from jars Maven fetches; the Schema Registry is built with Go).
//
// The rule: a missing or too old tool FAILs only when the configured setup needs it, that is when a server that needs
// it does not answer at its configured address and that address is the local stack's, so `stack up` would have to
// build or start it. Otherwise (servers from Docker or elsewhere, or already running) it is a warning.
import type { Check, LocalStackServer, ToolName } from './types.ts';
import { findExecutable, runVersionCommand, versionAtLeast } from './util.ts';

export interface ToolFinding {
  tool: 'node' | ToolName;
  name: string;
  minimum: string;
  /** Executable path; undefined when not found. */
  path?: string;
  version?: string;
  /** Why the version could not be read (the command failed or timed out). */
  error?: string;
  ms: number;
}

interface ToolSpec { name: string; bin: string; args: string[]; extraDirs?: string[]; minimum: string; parse: (out: string) =>
  string | undefined; install: string }

const TOOLS: Record<ToolName, ToolSpec> = {
  java: {
    name: 'Java', bin: 'java', args: ['-version'], minimum: '17', parse: parseJavaVersion,
    install: 'install a JDK >= 17 (Debian/Ubuntu: apt-get install default-jdk-headless; `stack up` does it itself when run as root)',
  },
  maven: {
    name: 'Maven', bin: 'mvn', args: ['-v'], minimum: '3.6', parse: parseMavenVersion,
    install: 'install Maven (Debian/Ubuntu: apt-get install maven; `stack up` does it itself when run as root)',
  },
  go: {
    name: 'Go', bin: 'go', args: ['version'], extraDirs: ['/usr/local/go/bin', '/usr/lib/go/bin'], minimum: '1.24', parse: parseGoVersion,
    install: 'install Go >= 1.24 (https://go.dev/dl) and put its bin directory on PATH',
  },
};

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

/** `openjdk version "17.0.15" 2025-04-15` → 17.0.15; `java version "1.8.0_381"` → 8.0.381 (the old 1.x numbering). */
export function parseJavaVersion(out: string): string | undefined {
  const v = /version "([^"]+)"/.exec(out)?.[1];
  if (!v) return undefined;
  const m = /^1\.(\d+)(?:\.(\d+))?(?:_(\d+))?/.exec(v);
  return m ? [m[1], m[2] ?? '0', m[3] ?? '0'].join('.') : v;
}

/** `Apache Maven 3.8.7 (…)` (ANSI colours stripped) → 3.8.7. */
export function parseMavenVersion(out: string): string | undefined {
  return /Apache Maven (\d[^\s]*)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''))?.[1];
}

/** `go version go1.26.8 linux/amd64` → 1.26.8. */
export function parseGoVersion(out: string): string | undefined {
  return /go version go(\d[^\s]*)/.exec(out)?.[1];
}

export function nodeFinding(): ToolFinding {
  return { tool: 'node', name: 'Node', minimum: '24', path: process.execPath, version: process.versions.node, ms: 0 };
}

/** Finds the tool and reads its version; never throws. */
export async function findTool(tool: ToolName, timeoutMs: number): Promise<ToolFinding> {
  const spec = TOOLS[tool];
  const started = Date.now();
  const base = { tool, name: spec.name, minimum: spec.minimum };
  const path = findExecutable(spec.bin, spec.extraDirs);
  if (!path) return { ...base, ms: Date.now() - started };
  try {
    const out = await runVersionCommand(path, spec.args, timeoutMs);
    const version = spec.parse(out);
    return version ? { ...base, path, version, ms: Date.now() - started }
      : { ...base, path, error: `\`${spec.bin} ${spec.args.join(' ')}\` printed no version`, ms: Date.now() - started };
  } catch (err) {
    const e = err as { killed?: boolean; code?: unknown };
    const why = e.killed ? `did not answer within ${timeoutMs} ms` : `failed${typeof e.code === 'number' || typeof e.code === 'string' ? ` (${e.code})` : ''}`;
    return { ...base, path, error: `\`${spec.bin} ${spec.args.join(' ')}\` ${why}`, ms: Date.now() - started };
  }
}

/**
 * The check of a tool under the rule above. `downLocal`: the local stack's servers the configuration points at that
 * do not answer (stack up would have to start them).
 */
export function toolCheck(f: ToolFinding, downLocal: readonly LocalStackServer[]): Check {
  const id = `tool.${f.tool}`;
  const where = f.path ? ` (${f.path})` : '';
  const data = { path: f.path ?? null, version: f.version ?? null, minimum: f.minimum };
  const usable = f.version !== undefined && versionAtLeast(f.version, f.minimum);
  if (f.tool === 'node') {
    return usable
      ? { id, section: 'tools', name: f.name, status: 'ok', summary: `v${f.version}${where}`, version: f.version, data, ms: f.ms }
      : { id, section: 'tools', name: f.name, status: 'fail', summary: `v${f.version}${where}: marketstream needs Node.js >= 24`, version: f.version,
        hint: 'install Node.js 24 LTS and put it first on PATH (see README "Requirements")', data, ms: f.ms };
  }
  const tool = f.tool;
  const spec = TOOLS[tool];
  if (usable) return { id, section: 'tools', name: f.name, status: 'ok', summary: `${f.version}${where}`, version: f.version, data, ms: f.ms };
  const found = !f.path ? `\`${spec.bin}\` not found on PATH` : f.error ? `${f.error}${where}` : `${f.version}${where} is older than ${f.minimum}`;
  const users = ['kafka', 'neo4j', 'schema-registry'].filter((s) => serverNeeds(s, tool));
  const needed = [...new Set(downLocal.filter((s) => s.needs.includes(tool)).map((s) => s.name))];
  if (needed.length) {
    return {
      id, section: 'tools', name: f.name, status: 'fail', summary: found, version: f.version,
      hint: `${spec.install}: the local stack needs it for ${needed.join(', ')}, which do not answer at the configured address (\`marketstream stack up\` ` +
        `would have to start them)`,
      data: { ...data, neededFor: needed }, ms: f.ms,
    };
  }
  return {
    id, section: 'tools', name: f.name, status: 'warn', summary: found, version: f.version,
    hint: `needed only by the local stack (${users.join(', ')}), not while the servers come from Docker or elsewhere; to run the local stack, ${spec.install}`,
    data: { ...data, neededFor: [] }, ms: f.ms,
  };
}

/** Which local-stack servers need which tool (for the hint when no LocalStackServer list names them). */
function serverNeeds(server: string, tool: ToolName): boolean {
  return tool === 'go' ? server === 'schema-registry' : server === 'kafka' || server === 'neo4j';
}
