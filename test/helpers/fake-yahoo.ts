// A fake Yahoo behind yahoo-finance2's fetch hook (no network), shared by the Yahoo source tests: recorded responses
// from test/fixtures/yahoo/, the cookie/crumb handshake answered, every requested URL recorded; each test routes the
// rest (anything it does not route gets a 418). Like Yahoo, it accepts only crumbs its getcrumb handed out and still
// honours: a test can revoke them, or make getcrumb hand out crumbs it refuses, and a request carrying a refused crumb
// gets Yahoo's 401 "Invalid Crumb".
import { readFileSync } from 'node:fs';

export interface Recorded { request?: { url: string };
  response: { status: number; statusText: string; headers: Record<string, string | string[]>; bodyJson?: unknown; bodyText?: string } }

/** A recorded response from test/fixtures/yahoo/<name>. */
export const yahooFixture = (name: string): Recorded => JSON.parse(readFileSync(new URL(`../fixtures/yahoo/${name}`, import.meta.url), 'utf8')) as Recorded;

export function toResponse(r: Recorded): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.response.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const body = r.response.bodyJson !== undefined ? JSON.stringify(r.response.bodyJson) : r.response.bodyText ?? '';
  return new Response(body, { status: r.response.status, statusText: r.response.statusText, headers });
}

/** Yahoo's side of the crumb: what getcrumb handed out and which of those crumbs it still accepts. */
export interface FakeCrumbs {
  /** Crumbs getcrumb handed out, in order: the recorded one first, then new ones. */
  readonly issued: readonly string[];
  /** How many times getcrumb was asked. */
  requests(): number;
  /** Every crumb handed out so far is refused from now on (401 "Invalid Crumb"), until getcrumb hands out a new one. */
  revoke(): void;
  /** While on, getcrumb hands out crumbs that are refused as well (Yahoo keeps refusing its own crumbs). */
  refuseNew(on: boolean): void;
}

export const GETCRUMB_URL = 'https://query1.finance.yahoo.com/v1/test/getcrumb';

/** A fetch for yahoo-finance2: answers the crumb handshake, then `route(url)` (a recorded response, or undefined = 418). */
export function fakeYahooFetch(route: (url: string) => Recorded | undefined): { fetch: typeof globalThis.fetch; calls: string[]; crumbs: FakeCrumbs } {
  const calls: string[] = [];
  const recordedCrumb = yahooFixture('getCrumb-getcrumb.json');
  const issued: string[] = [];
  const accepted = new Set<string>();
  let refuseNew = false;
  const crumbs: FakeCrumbs = {
    issued,
    requests: () => calls.filter((u) => u.startsWith(GETCRUMB_URL)).length,
    revoke: () => accepted.clear(),
    refuseNew: (on) => { refuseNew = on; },
  };
  const fetch = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    if (url.startsWith('https://finance.yahoo.com/quote/')) return toResponse(yahooFixture('getCrumb-quote-AAPL.json'));
    if (url.startsWith(GETCRUMB_URL)) {
      const crumb = issued.length === 0 ? recordedCrumb.response.bodyText! : `${recordedCrumb.response.bodyText}${issued.length + 1}`;
      issued.push(crumb);
      if (!refuseNew) accepted.add(crumb);
      return toResponse({ response: { ...recordedCrumb.response, bodyText: crumb } });
    }
    const crumb = new URL(url).searchParams.get('crumb');
    if (crumb !== null && !accepted.has(crumb)) return toResponse(yahooFixture('invalid-crumb-401.json'));
    const recorded = route(url);
    return recorded ? toResponse(recorded) : new Response('unexpected request', { status: 418 });
  }) as typeof globalThis.fetch;
  return { fetch, calls, crumbs };
}
