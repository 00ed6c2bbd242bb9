// Terminal rendering of `explain`: per fact, the fact, the record that made (or deleted) it, its enrichment; then the
// source article (with the version PostgreSQL holds for it: its row's, or its tombstone's) or company profile; for a
// symbol its newest bars (freshness, confidence) and features; for a bar its revisions.
import { formatDuration } from '../../lib/freshness.ts';
import type { BarHistory } from '../../ops/explain/revisions.ts';
import { jsonSafe } from '../../ops/inspect/decode.ts';
import type { EnrichmentInfo, Explanation, Fact } from '../../ops/explain/index.ts';
import type { LoggedRecord, RecordRef } from '../../ops/explain/records.ts';
import { formatValue } from '../inspect/format.ts';

const at = (r: RecordRef) => `${r.topic} partition ${r.partition} offset ${r.offset}`;
const props = (p: Record<string, unknown>) => Object.entries(p).map(([k, v]) => `${k}=${JSON.stringify(jsonSafe(v))}`).join(' ') || '(none)';

function entityTitle(f: Fact): string {
  const parts = f.entity.split(':');
  return f.kind === 'relationship' ? `(${parts[1]})-[:${parts[0]}]->(${parts[2]})` : `(:${parts[0]} ${parts[1]})`;
}

function record(r: LoggedRecord | null | undefined, indent: string): string[] {
  if (!r) return [];
  if (!r.found) return [`${indent}record ${at(r)}: ${r.reason}`];
  const schema = r.value.kind === 'avro' ? `  schema ${r.value.schema.subject ?? '?'} v${r.value.schema.version ?? '?'} (id ${r.value.schema.id})` : '';
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}=${v}`).join(' ');
  return [
    `${indent}record ${at(r)}  key ${r.key ?? '(none)'}  at ${r.timestamp}${schema}`,
    ...(headers ? [`${indent}  headers: ${headers}`] : []),
    `${indent}  value: ${formatValue(r.value)}`,
  ];
}

function enrichment(e: EnrichmentInfo | null, indent: string): string[] {
  if (!e) return [];
  if (e.classifier === 'rules' && !e.fallbackReason)
    return [`${indent}enrichment: rule-based classifier (${e.model ?? '?'}), no model call${e.classifiedAt ? `, classified ${e.classifiedAt}` : ''}`];
  const cost = e.costUsd === null ? '?' : `$${e.costUsd.toFixed(6)}`;
  return [
    `${indent}enrichment: ${e.classifier} model ${e.model ?? '?'}${e.classifiedAt ? `, classified ${e.classifiedAt}` : ''}`
      + `, tokens ${e.inputTokens ?? '?'} in / ${e.outputTokens ?? '?'} out, cost ${cost}`
      + (e.fallbackReason ? ` (rules answered: ${e.fallbackReason})` : ''),
  ];
}

/** The version the sink orders the fact's changes by (with the time), when recorded. */
const version = (f: Fact) => (f.version === null ? '' : `, version ${f.version}`);

function fact(f: Fact): string[] {
  const out: string[] = [];
  if (f.state === 'present') {
    out.push(`${entityTitle(f)}  ${props(f.properties)}`);
    out.push(f.source ? `  made by ${at(f.source)} (origin ${f.origin ?? '?'}), last changed ${f.time ?? '?'}${version(f)}`
      : '  made by: not recorded (written before provenance was kept, or not through the sink)');
  } else {
    const how = f.deletedBy?.op === 'node deleted' ? `with its node ${f.deletedBy.cascade}` : f.deletedBy?.op ?? 'a delete';
    out.push(`${entityTitle(f)}  DELETED at ${f.time ?? '?'}${version(f)} (${how})`);
    out.push(f.source ? `  deleted by ${at(f.source)}${f.origin ? ` (origin ${f.origin})` : ''}` : '  deleted by: not recorded');
  }
  out.push(...record(f.record, '  '), ...enrichment(f.enrichment, '  '));
  if (f.eventRecord) out.push(`  classified record: ${at(f.eventRecord)}`);
  return out;
}

export function formatExplanation(x: Explanation): string {
  const out: string[] = [];
  if (!x.facts.length) out.push(`${x.target}: no such fact in the graph, and no record of its deletion`);
  for (const f of x.facts) out.push(...fact(f), '');
  if (x.article) {
    const a = x.article;
    const row = a.row;
    const value = a.record?.found && a.record.value.kind === 'avro' ? a.record.value.value as Record<string, unknown> : null;
    const headline = (row?.headline ?? value?.headline ?? x.facts.find((f) => f.properties.headline)?.properties.headline) as string | undefined;
    out.push(`source article ${a.eventId}${headline ? `: "${headline}"` : ''}`);
    if (a.record) out.push(...record(a.record, '  '));
    if (a.record?.found && a.record.value.kind === 'tombstone') out.push('  (the event was withdrawn by this tombstone)');
    out.push(row
      ? (`  PostgreSQL market_events: source ${String(row.source)}, published ${new Date(row.published_at as string).toISOString()}, ` +
        `url ${String(row.url ?? '-')}, type ${String(row.type ?? '-')}, sentiment ${String(row.sentiment ?? '-')} ` +
        `(${String(row.classifier ?? '-')} ${String(row.model ?? '')})`).trimEnd() +
        `, version ${row.version === null || row.version === undefined ? '- (written before versions)' : String(row.version)}`
      : a.tombstone
        ? `  PostgreSQL market_events: no row (withdrawn by the tombstone at version ${a.tombstone.version}, ${a.tombstone.deletedAt.toISOString()})`
        : '  PostgreSQL market_events: no row (withdrawn, or not written yet)');
    if (a.classification)
      out.push(`  classification cache: ${String(a.classification.classifier)} ${String(a.classification.model ?? '')}, ` +
      `first classified ${new Date(a.classification.created_at as string).toISOString()}`);
    out.push('');
  }
  if (x.profile !== undefined) {
    out.push(x.profile ? `company profile (from the record above): ${props(x.profile)}`
      : 'company profile: none recorded (the node was made by another producer, or by a relationship)', '');
  }
  for (const p of x.prices ?? []) {
    const late = p.lateSeconds > 0 ? `${formatDuration(p.lateSeconds)} late (limit ${formatDuration(p.limitSeconds)})` : 'not late (no later bar due yet)';
    out.push(`price ${p.interval}, bar ${new Date(p.eventTime).toISOString()}: close ${p.close}, source ${p.source}, quality ${p.quality}; ` +
      `ended ${new Date(p.endsAt).toISOString()} (${formatDuration(p.ageSeconds)} ago), ${late}: ` +
      `confidence ${p.confidence.toFixed(3)}${p.late ? ' (stale)' : ''}`);
  }
  if (x.prices?.length) out.push('');
  for (const f of x.features ?? []) {
    const v = f.values;
    const n = (k: keyof typeof v) => (v[k] === null ? 'null' : Number(v[k]).toPrecision(8));
    out.push(`features ${f.interval}, bar ${new Date(v.time).toISOString()} (bar ${v.bars} of the key; ${f.heldBars} held for corrections), ` +
      `version ${f.version}: ${f.definition ?? ''}`,
    `  sma ${n('sma')}  ema ${n('emaFast')} / ${n('emaSlow')}  macd ${n('macd')} signal ${n('macdSignal')} hist ${n('macdHistogram')}  rsi ${n('rsi')}`,
    `  bollinger ${n('bollingerLower')} .. ${n('bollingerMiddle')} .. ${n('bollingerUpper')}  atr ${n('atr')}  log return ${n('logReturn')}  ` +
      `volatility ${n('realizedVolatility')}  vwap ${n('vwap')}`,
    '  the newest price record the values saw:', ...record(f.records?.newest, '    '),
    '  the record of this bar:', ...record(f.records?.bar, '    '), '');
  }
  return out.join('\n');
}

/** A bar and its revisions (ops/explain/revisions.ts), one line each: offset, partition, when written, values, what changed. */
export function formatBarHistory(h: BarHistory): string {
  const values = (v: { open: number; high: number; low: number; close: number; volume: number; final: boolean | null; adjusted: boolean | null; source: string }) =>
    `O ${v.open} H ${v.high} L ${v.low} C ${v.close} V ${v.volume} ${v.source}${v.final === false ? ' provisional' : v.final ? ' final' : ''}`
    + `${v.adjusted === true ? ' adjusted' : v.adjusted === false ? ' raw' : ''}`;
  const lines = [`${h.symbol} ${h.interval} ${h.ts}`];
  if (!h.current) return `${lines[0]}: no such bar in price_data`;
  lines.push(`  now: ${values(h.current)} (version ${h.current.version ?? 'none'})`);
  if (!h.revisions.length) lines.push('  never revised');
  for (const r of h.revisions) {
    lines.push(`  offset ${r.version}${r.partition === null ? '' : ` partition ${r.partition}`} ${r.writtenAt ? `written ${r.writtenAt}` : '(first known)'}: `
      + `${values(r)}${r.changed.length ? `; changed ${r.changed.join(', ')}` : ''}`);
  }
  return lines.join('\n');
}
