// How far `dlq redrive` got on one DLQ partition, as the redrive group commits it: the offset is the first record not
// yet handled (every record before it was sent back or refused), and the commit metadata lists the records past it
// that were handled too. Filters (--error-class, --key, --from/--to) can leave records behind that a later redrive
// must still find, so a plain offset is not enough; the list holds offset ranges ("12-40,45"), which stay short.

/** Kafka's default offset.metadata.max.bytes is 4096; what is left is margin. */
export const MAX_METADATA_CHARS = 3500;
const PREFIX = 'redrive-v1:';

export class RedriveState {
  /** First offset not handled. */
  position: bigint;
  /** Handled offsets past `position`, as sorted, disjoint, non-adjacent inclusive ranges. */
  private ranges: Array<[bigint, bigint]>;

  private constructor(position: bigint, ranges: Array<[bigint, bigint]>) {
    this.position = position;
    this.ranges = ranges;
    this.compact();
  }

  /**
   * From the group's committed offset and metadata (offset null or negative: nothing committed). Records below `low`
   * are gone (retention), so the position never stays below it.
   */
  static parse(offset: string | null, metadata: string | null, low: bigint): RedriveState {
    const committed = offset !== null && /^\d+$/.test(offset) ? BigInt(offset) : -1n;
    const ranges: Array<[bigint, bigint]> = [];
    if (committed >= 0n && metadata?.startsWith(PREFIX)) {
      for (const part of metadata.slice(PREFIX.length).split(',')) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(part);
        if (m) ranges.push([BigInt(m[1]!), BigInt(m[2] ?? m[1]!)]);
      }
    }
    return new RedriveState(committed > low ? committed : low, merge(ranges));
  }

  has(offset: bigint): boolean {
    return offset < this.position || this.ranges.some(([lo, hi]) => offset >= lo && offset <= hi);
  }

  /** Marks a record handled. */
  add(offset: bigint): void {
    if (this.has(offset)) return;
    this.ranges = merge([...this.ranges, [offset, offset]]);
    this.compact();
  }

  /** Marks the offsets lo..hi (inclusive) handled. */
  addRange(lo: bigint, hi: bigint): void {
    if (hi < lo) return;
    this.ranges = merge([...this.ranges, [lo, hi]]);
    this.compact();
  }

  /** The commit metadata ('' when every handled record is below the position). */
  metadata(): string {
    return this.ranges.length ? PREFIX + this.ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',') : '';
  }

  /** Whether marking these offsets handled keeps the metadata within what the broker stores. */
  fits(offsets: readonly bigint[]): boolean {
    const copy = new RedriveState(this.position, merge([...this.ranges, ...offsets.map((o): [bigint, bigint] => [o, o])]));
    return copy.metadata().length <= MAX_METADATA_CHARS;
  }

  private compact(): void {
    this.ranges = this.ranges.filter(([, hi]) => hi >= this.position);
    while (this.ranges.length && this.ranges[0]![0] <= this.position) {
      this.position = this.ranges[0]![1] + 1n;
      this.ranges.shift();
    }
  }
}

/** Sorted, with overlapping or adjacent ranges joined. */
function merge(ranges: Array<[bigint, bigint]>): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  for (const [lo, hi] of [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const last = out.at(-1);
    if (last && lo <= last[1] + 1n) { if (hi > last[1]) last[1] = hi; } else out.push([lo, hi]);
  }
  return out;
}
