// Which Kafka a broker runs. The Kafka protocol has no "server version" request, and kafkajs keeps what it learns to
// itself, so this asks the broker directly with ApiVersions v3 (KIP-511; answered before any SASL authentication)
// and reads the features the broker advertises (KIP-584): the highest `metadata.version` its software supports names
// its release (4.4-IV2 → Kafka 4.4), and the finalized one is what the cluster runs at. The patch release cannot be
// read from the protocol. A ZooKeeper-mode broker (Kafka < 4.0 without KRaft) advertises no metadata.version.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Kafka's MetadataVersion levels (org.apache.kafka.server.common.MetadataVersion) up to Kafka 4.4. */
const METADATA_VERSIONS: Record<number, string> = {
  1: '3.0-IV1', 2: '3.1-IV0', 3: '3.2-IV0', 4: '3.3-IV0', 5: '3.3-IV1', 6: '3.3-IV2', 7: '3.3-IV3', 8: '3.4-IV0',
  9: '3.5-IV0', 10: '3.5-IV1', 11: '3.5-IV2', 12: '3.6-IV0', 13: '3.6-IV1', 14: '3.6-IV2', 15: '3.7-IV0', 16: '3.7-IV1',
  17: '3.7-IV2', 18: '3.7-IV3', 19: '3.7-IV4', 20: '3.8-IV0', 21: '3.9-IV0', 22: '4.0-IV0', 23: '4.0-IV1', 24: '4.0-IV2',
  25: '4.0-IV3', 26: '4.1-IV0', 27: '4.1-IV1', 28: '4.2-IV0', 29: '4.2-IV1', 30: '4.3-IV0', 31: '4.4-IV0', 32: '4.4-IV1',
  33: '4.4-IV2',
};
const NEWEST_KNOWN = 33;

/** `4.4-IV2` for level 33; `level 40 (newer than 4.4-IV2)` beyond the table. */
export function metadataVersionName(level: number): string {
  return METADATA_VERSIONS[level] ?? (level > NEWEST_KNOWN ? `level ${level} (newer than ${METADATA_VERSIONS[NEWEST_KNOWN]})` : `level ${level}`);
}

/** The Kafka release (major.minor) whose software supports metadata.version up to `maxLevel`; undefined beyond the table. */
export function kafkaReleaseOf(maxLevel: number): string | undefined {
  return METADATA_VERSIONS[maxLevel]?.split('-')[0];
}

export interface FeatureRange { min: number; max: number }

export interface BrokerVersionInfo {
  /** Features the broker's software supports (name → version range). */
  supportedFeatures: Record<string, FeatureRange>;
  /** Features finalized for the cluster (name → level range). */
  finalizedFeatures: Record<string, FeatureRange>;
  /** Highest version of each API the broker supports (api key → max version). */
  apiMaxVersions: Record<number, number>;
}

const API_VERSIONS_KEY = 18;
const REQUEST_VERSION = 3;

function uvarint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v >>>= 7; }
  out.push(v);
  return Buffer.from(out);
}

function compactString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([uvarint(b.length + 1), b]);
}

/** ApiVersions v3 request with its size prefix (request header v2). */
export function encodeApiVersionsRequest(correlationId: number, clientId: string, software = { name: 'marketstream-doctor', version: '0' }): Buffer {
  const client = Buffer.from(clientId, 'utf8');
  const header = Buffer.alloc(10);
  header.writeInt16BE(API_VERSIONS_KEY, 0);
  header.writeInt16BE(REQUEST_VERSION, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(client.length, 8);
  const body = Buffer.concat([header, client, uvarint(0), compactString(software.name), compactString(software.version), uvarint(0)]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

class Reader {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) { this.buf = buf; }
  int8(): number { const v = this.buf.readInt8(this.pos); this.pos += 1; return v; }
  int16(): number { const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v; }
  int32(): number { const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v; }
  int64(): bigint { const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return v; }
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf.readUInt8(this.pos++);
      result |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return result >>> 0;
      shift += 7;
      if (shift > 28) throw new Error('malformed varint in ApiVersions response');
    }
  }
  compactString(): string {
    const len = this.uvarint() - 1;
    if (len < 0) return '';
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  skip(n: number): void { this.pos += n; }
  skipTags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) { this.uvarint(); this.skip(this.uvarint()); }
  }
  sub(n: number): Reader { const r = new Reader(this.buf.subarray(this.pos, this.pos + n)); this.pos += n; return r; }
}

function featureArray(r: Reader, minFirst: boolean): Record<string, FeatureRange> {
  const out: Record<string, FeatureRange> = {};
  const n = r.uvarint() - 1;
  for (let i = 0; i < n; i++) {
    const name = r.compactString();
    const a = r.int16();
    const b = r.int16();
    r.skipTags();
    out[name] = minFirst ? { min: a, max: b } : { min: b, max: a };
  }
  return out;
}

/** Decodes an ApiVersions v3 response (after its size prefix): correlation id, then the body with its tagged fields. */
export function decodeApiVersionsResponse(frame: Buffer): { correlationId: number; errorCode: number; info: BrokerVersionInfo } {
  const r = new Reader(frame);
  const correlationId = r.int32(); // ApiVersions responses always use response header v0
  const errorCode = r.int16();
  const info: BrokerVersionInfo = { supportedFeatures: {}, finalizedFeatures: {}, apiMaxVersions: {} };
  if (errorCode !== 0) return { correlationId, errorCode, info };
  const apis = r.uvarint() - 1;
  for (let i = 0; i < apis; i++) {
    const key = r.int16();
    r.int16();
    info.apiMaxVersions[key] = r.int16();
    r.skipTags();
  }
  r.int32(); // throttle_time_ms
  const tags = r.uvarint();
  for (let i = 0; i < tags; i++) {
    const tag = r.uvarint();
    const field = r.sub(r.uvarint());
    if (tag === 0) info.supportedFeatures = featureArray(field, true); // SupportedFeatures: name, min_version, max_version
    else if (tag === 2) info.finalizedFeatures = featureArray(field, false); // FinalizedFeatures: name, max_version_level, min_version_level
  }
  return { correlationId, errorCode, info };
}

/** Sends ApiVersions v3 to one broker (TLS when `ssl`) and decodes the answer; rejects on error or after `timeoutMs`. */
export function fetchBrokerVersionInfo(host: string, port: number, o: { ssl: boolean; timeoutMs: number; clientId: string }): Promise<BrokerVersionInfo> {
  return new Promise((resolve, reject) => {
    const correlationId = 1;
    const socket: Socket = o.ssl ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port });
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (err: Error | null, info?: BrokerVersionInfo) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(info!);
    };
    socket.setTimeout(o.timeoutMs, () => done(new Error(`no ApiVersions answer from ${host}:${port} within ${o.timeoutMs} ms`)));
    socket.once('error', (err) => done(err));
    socket.once(o.ssl ? 'secureConnect' : 'connect', () => socket.write(encodeApiVersionsRequest(correlationId, o.clientId)));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length < 4 || all.length < 4 + all.readInt32BE(0)) return;
      try {
        const res = decodeApiVersionsResponse(all.subarray(4, 4 + all.readInt32BE(0)));
        if (res.correlationId !== correlationId) done(new Error('unexpected ApiVersions correlation id'));
        else if (res.errorCode === 35) done(new Error('the broker does not support ApiVersions v3 (Kafka < 2.4)'));
        else if (res.errorCode !== 0) done(new Error(`ApiVersions answered error code ${res.errorCode}`));
        else done(null, res.info);
      } catch (err) {
        done(err as Error);
      }
    });
    socket.once('close', () => done(new Error(`${host}:${port} closed the connection before answering ApiVersions`)));
  });
}

export interface KafkaVersionReading {
  /** Kafka release (major.minor) read from the broker's features, e.g. `4.4`; undefined when it cannot be read. */
  release?: string;
  /** Highest metadata.version the broker's software supports, e.g. `4.4-IV2`. */
  supported?: string;
  /** metadata.version finalized for the cluster. */
  finalized?: string;
  /** Why no release could be read. */
  unreadable?: string;
}

/** What the ApiVersions answer says about the release. */
export function readKafkaVersion(info: BrokerVersionInfo): KafkaVersionReading {
  const supported = info.supportedFeatures['metadata.version'];
  const finalized = info.finalizedFeatures['metadata.version'];
  if (!supported) return { unreadable: 'the broker advertises no metadata.version feature (ZooKeeper mode, or Kafka < 3.3)' };
  const release = kafkaReleaseOf(supported.max);
  return {
    release,
    supported: metadataVersionName(supported.max),
    finalized: finalized ? metadataVersionName(finalized.max) : undefined,
    unreadable: release ? undefined : `metadata.version ${metadataVersionName(supported.max)} is newer than this table (Kafka 4.4)`,
  };
}
