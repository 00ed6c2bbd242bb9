// The shape every local-stack service module has: make sure its artifacts exist, start it detached,
// and say whether it answers. `stack/index.ts` drives them all the same way.
import type { StackPaths } from '../paths.ts';

export interface ServiceContext {
  paths: StackPaths;
  /** Progress lines for the user (stack up prints them). */
  log: (message: string) => void;
  /** Serializes Maven runs (one local repository) and apt runs. */
  exclusive: (what: 'maven' | 'apt', fn: () => Promise<void>) => Promise<void>;
  /** Epoch ms by which the service must be ready. */
  deadline: number;
}

export interface StackService {
  /** Short name used for logs and pid files: postgres, redis, kafka, neo4j, schema-registry. */
  readonly name: string;
  /** Where clients reach it. */
  readonly address: string;
  /** host and port its listener binds. */
  readonly host: string;
  readonly port: number;
  /** Services that must be healthy before this one starts. */
  readonly dependsOn: readonly string[];
  /** A substring of the started process's command line; a pid only counts as ours when it matches. */
  readonly processMatch: string;
  /** Signal that asks for a clean, prompt shutdown. */
  readonly stopSignal: NodeJS.Signals;
  /** Installs or builds what the service needs (cached; quick when already there). */
  ensure(ctx: ServiceContext): Promise<void>;
  /** Starts the server detached and returns its pid (recorded in the pid file at once). */
  start(ctx: ServiceContext): Promise<number>;
  /** Optional one-time setup once the process runs (roles, databases); waits for the server itself. */
  afterStart?(ctx: ServiceContext): Promise<void>;
  /** Answers a real request with the project's credentials. */
  isHealthy(): Promise<boolean>;
}

/** The identity part of a service: its name, where it listens, and what must run before it. */
export function endpoint(name: string, host: string, port: number, dependsOn: readonly string[] = []): Pick<StackService,
  'name' | 'address' | 'host' | 'port' | 'dependsOn'> {
  return { name, address: `${host}:${port}`, host, port, dependsOn };
}
