// Reading a Prometheus text exposition in tests: sum the samples of a metric whose labels match.
export function samples(text: string, name: string, labels: Record<string, string> = {}): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const got = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) out.push(Number(line.split(' ').at(-1)));
  }
  return out;
}

/** The one sample `name{labels} value` whose labels are exactly `labels`, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const got = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const exact = Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length;
    if (exact) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

/** Sum of the matching samples; 0 when there is none. */
export function total(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name, labels).reduce((a, b) => a + b, 0);
}

export async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export async function ready(baseUrl: string): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${baseUrl}/ready`);
  const body = await res.json() as { reasons: string[] };
  return { status: res.status, reasons: body.reasons };
}
