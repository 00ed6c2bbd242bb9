// Company profiles (name, sector, industry, exchange) for the graph producer, and the offline profile source: a JSON
// file, by default the bundled sample (producers/graph/sample-profiles.json, hand-written sample data).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { NAME_PATTERN } from '../../topics/graph-model.ts';

export const SAMPLE_PROFILES_FILE = fileURLToPath(new URL('./sample-profiles.json', import.meta.url));

export interface CompanyProfile {
  symbol: string;
  name: string | null;
  sector: string | null;
  industry: string | null;
  exchange: string | null;
  /** Business description, when the source has one (sent to Claude for the competitor analysis; not stored). */
  summary?: string | null;
}

/** Where a profile came from; recorded on the Company node as `profile_source`. */
export type ProfileOrigin = 'yahoo' | 'sample' | 'file';

export interface ProfileResult {
  profiles: CompanyProfile[];
  /** Symbols the source has no profile for. */
  missing: string[];
}

export interface ProfileSource {
  readonly origin: ProfileOrigin;
  /** Profiles of these symbols (those the source knows). */
  profiles(symbols: readonly string[]): Promise<ProfileResult>;
  /** Every profile the source holds without a request (a file's); the offline competitor fallback picks peers from it. */
  known(): Promise<CompanyProfile[]>;
  close?(): Promise<void>;
}

const name = z.string().trim().regex(NAME_PATTERN, 'expected 1-200 characters without a colon').nullable().default(null);
export const profileSchema = z.object({
  symbol: z.string().regex(SYMBOL_PATTERN, 'expected a ticker symbol'),
  name: z.string().trim().min(1).max(300).nullable().default(null),
  sector: name,
  industry: name,
  exchange: z.string().trim().min(1).max(100).nullable().default(null),
  summary: z.string().max(5000).nullable().optional(),
});

export const profilesFileSchema = z.object({
  description: z.string().optional(),
  /** True for hand-written sample data (nodes get profile_source "sample"). */
  sample: z.boolean().default(false),
  profiles: z.array(profileSchema),
});

export async function loadProfilesFile(path: string): Promise<z.output<typeof profilesFileSchema>> {
  const text = await readFile(path, 'utf8');
  const parsed = profilesFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`profiles file ${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Profiles from a JSON file (`{ profiles: [{symbol, name, sector, industry, exchange}] }`), read once. */
export function createFileProfileSource(path: string = SAMPLE_PROFILES_FILE): ProfileSource & { readonly origin: 'sample' | 'file' } {
  let loaded: Promise<{ sample: boolean; bySymbol: Map<string, CompanyProfile> }> | undefined;
  const load = () => (loaded ??= loadProfilesFile(path).then((f) => ({ sample: f.sample, bySymbol: new Map(f.profiles.map((p) => [p.symbol, p])) })));
  const source = {
    origin: (path === SAMPLE_PROFILES_FILE ? 'sample' : 'file') as 'sample' | 'file',
    async profiles(symbols: readonly string[]) {
      const { bySymbol } = await load();
      return {
        profiles: symbols.flatMap((s) => (bySymbol.has(s) ? [bySymbol.get(s)!] : [])),
        missing: symbols.filter((s) => !bySymbol.has(s)),
      };
    },
    async known() {
      return [...(await load()).bySymbol.values()];
    },
  };
  return source;
}
