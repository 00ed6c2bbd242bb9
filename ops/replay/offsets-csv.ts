// Consumer group offsets as kafka-consumer-groups writes and reads them (`--reset-offsets … --export`, `--from-file`):
// one line per partition, `topic,partition,offset`, no header, `\n` after every line (Kafka's CsvUtils: a Jackson
// CsvMapper with the fields in that order). A file written with several --group holds `group,topic,partition,offset`
// lines; Kafka then uses the lines of the group being reset, and so does this. So a file saved here can be restored with
// kafka-consumer-groups --reset-offsets --from-file, and the reverse.
import { readFile, writeFile } from 'node:fs/promises';
import { OffsetsFileError, ValidationError } from '../../lib/errors.ts';

export interface OffsetsFileEntry {
  topic: string;
  partition: number;
  offset: bigint;
  /** 1-based line number in the file, for error messages. */
  line: number;
  text: string;
}

/** `topic,partition,offset\n` per entry, in the given order. Topic names cannot hold a comma or a quote, so nothing is quoted. */
export function formatOffsetsCsv(rows: ReadonlyArray<{ topic: string; partition: number; offset: string | bigint }>): string {
  return rows.map((r) => `${r.topic},${r.partition},${r.offset}\n`).join('');
}

/**
 * Parses kafka-consumer-groups' CSV: every line `topic,partition,offset` (or every line `group,topic,partition,offset`,
 * of which the lines of `groupId` are taken). Blank lines are skipped. Throws OffsetsFileError listing every bad line:
 * wrong number of fields, a partition or offset that is not a non-negative integer, a partition given twice.
 */
export function parseOffsetsCsv(text: string, o: { file: string; groupId: string }): OffsetsFileEntry[] {
  const bad: Array<{ line: number; text: string; reason: string }> = [];
  const entries: OffsetsFileEntry[] = [];
  const seen = new Map<string, number>();
  let columns: 3 | 4 | undefined;
  let otherGroups = 0;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const t = raw.replace(/\r$/, '');
    if (!t.trim()) return;
    const fields = splitCsvLine(t);
    if (fields === null) { bad.push({ line, text: t, reason: 'unbalanced quotes' }); return; }
    if (fields.length !== 3 && fields.length !== 4) { bad.push({ line, text: t,
      reason: `expected topic,partition,offset (or group,topic,partition,offset), got ${fields.length} field(s)` }); return; }
    columns ??= fields.length;
    if (fields.length !== columns) { bad.push({ line, text: t, reason: `${fields.length} fields where the file's first line has ${columns}` }); return; }
    const [group, topic, p, off] = fields.length === 4 ? fields as [string, string, string, string]
      : [o.groupId, ...fields] as [string, string, string, string];
    if (group !== o.groupId) { otherGroups++; return; }
    const reasons: string[] = [];
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic)) reasons.push(`topic ${JSON.stringify(topic)} is not a Kafka topic name`);
    if (!/^\d{1,9}$/.test(p.trim())) reasons.push(`partition ${JSON.stringify(p)} is not a non-negative integer`);
    if (!/^\d{1,19}$/.test(off.trim())) reasons.push(`offset ${JSON.stringify(off)} is not a non-negative integer`);
    if (reasons.length) { bad.push({ line, text: t, reason: reasons.join('; ') }); return; }
    const partition = Number(p.trim());
    const key = `${topic}\n${partition}`;
    const first = seen.get(key);
    if (first !== undefined) { bad.push({ line, text: t, reason: `${topic} partition ${partition} is already given on line ${first}` }); return; }
    seen.set(key, line);
    entries.push({ topic, partition, offset: BigInt(off.trim()), line, text: t });
  });
  if (bad.length) throw new OffsetsFileError(o.file, bad);
  if (!entries.length) {
    const why = otherGroups ? `no line for group ${o.groupId} (${otherGroups} line(s) of other groups)` : 'no offsets in it';
    throw new OffsetsFileError(o.file, [], why);
  }
  return entries;
}

/** Reads and parses an offsets file (see parseOffsetsCsv). */
export async function readOffsetsFile(file: string, groupId: string): Promise<OffsetsFileEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read offsets file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
  }
  return parseOffsetsCsv(text, { file, groupId });
}

/** Writes an offsets file; never overwrites one (the offsets it holds may be the only copy). */
export async function writeOffsetsFile(file: string, csv: string): Promise<void> {
  try {
    await writeFile(file, csv, { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new ValidationError(`${file} exists: --export never overwrites a saved offsets file (it may be the only copy); give another name or remove it`,
      err);
    throw new ValidationError(`cannot write offsets file ${file}: ${code ?? String(err)}`, err);
  }
}

/** The fields of one CSV line (RFC 4180 quoting, as Jackson writes a field that needs it); null when a quote is unbalanced. */
function splitCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) return null;
        if (line[i] === '"') {
          if (line[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          break;
        }
        v += line[i++];
      }
      if (i < line.length && line[i] !== ',') return null;
      fields.push(v);
    } else {
      const end = line.indexOf(',', i);
      fields.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}
