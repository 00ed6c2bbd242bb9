// The fault matrix of issue #11, each caused for real on the running stack with postgres-sink members as OS processes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createSerde } from '../../lib/serde.ts';
import { rebuild } from '../../ops/rebuild.ts';
import { POSTGRES_SOCKET_DIR } from '../../stack/services/postgres.ts';
import { startTestRegistry } from '../../test/helpers/registry.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import {
  createStream, envOf, figures, proxiedPostgres, recovered, settled, startMember, stopMembers, tag, watchGroup, type Member, type Scenario,
} from './harness.ts';

const cacheDir = () => mkdtempSync(path.join(tmpdir(), 'faults-schemas-'));

/** 0a. A flood of 20,000 undecodable records ahead of the good ones. */
export const flood: Scenario = {
  name: 'flood of 20,000 undecodable records',
  async run(ctx) {
    const stream = await createStream(ctx, 'flood');
    const env = envOf(stream);
    const watch = watchGroup(ctx, env);
    const producer = ctx.kafka.producer();
    await producer.connect();
    for (let i = 0; i < 20_000; i += 2000) {
      await producer.send({ topic: stream.topic.name,
        messages: Array.from({ length: 2000 }, (_, k) =>
        ({ key: stream.symbols[(i + k) % stream.symbols.length]!, value: Buffer.from(`\x7fjunk ${i + k} `.padEnd(190, 'x')) })) });
    }
    await producer.disconnect();
    await stream.publish(0, Math.ceil(ctx.records / stream.symbols.length));
    const started = Date.now();
    const member = startMember(env);
    const recoverSeconds = await recovered(ctx, stream, { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX }, started);
    const joins = member.joins();
    await stopMembers([member]);
    const result = await figures(stream, { fault: this.name, rebalances: joins - 1, recoverSeconds, watch,
      notes: 'in DLQ: the 20,000 undecodable records, as expected' });
    await stream.close();
    return result;
  },
};

/** 0b. The registry killed; a fresh member decodes from the schemas kept on disk. */
export const registryKilled: Scenario = {
  name: 'schema registry killed, fresh member',
  async run(ctx) {
    const registry = await startTestRegistry(ctx.config);
    const stream = await createStream(ctx, 'registry-killed');
    const env = envOf(stream, { SCHEMA_REGISTRY_URL: registry.url, SCHEMA_CACHE_DIR: cacheDir() });
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    const perSymbol = Math.ceil(ctx.records / stream.symbols.length);
    await stream.publish(0, Math.ceil(perSymbol / 10));
    const first = startMember(env);
    await recovered(ctx, stream, config, Date.now());
    await stopMembers([first]);
    await registry.kill();
    const killedAt = Date.now();
    await stream.publish(Math.ceil(perSymbol / 10), perSymbol);
    const fresh = startMember(env);
    const recoverSeconds = await recovered(ctx, stream, config, killedAt);
    const joins = fresh.joins();
    await stopMembers([fresh]);
    const result = await figures(stream, { fault: this.name, rebalances: joins - 1, recoverSeconds, watch,
      notes: 'recovery from the kill; the registry stayed down' });
    await stream.close();
    return result;
  },
};

/** 0c. The registry answering 404 because its storage (PostgreSQL) is down, while 3 fresh members start. */
export const registryStorageDown: Scenario = {
  name: 'schema registry answering 404 (storage down 60 s), 3 fresh members',
  async run(ctx) {
    const pg = new URL(ctx.config.POSTGRES_URL);
    const storage = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    const registry = await startTestRegistry(ctx.config, { postgresPort: storage.port });
    const stream = await createStream(ctx, 'registry-404');
    await createSerde(ctx.config).encoder(stream.topic);
    const env = envOf(stream, { SCHEMA_REGISTRY_URL: registry.url, SCHEMA_CACHE_DIR: cacheDir(), TOPIC_PARTITIONS: String(ctx.config.TOPIC_PARTITIONS) });
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    storage.cut();
    const members = [0, 1, 2].map(() => startMember(env));
    await stream.publish(0, Math.ceil(ctx.records / stream.symbols.length));
    const base = await settled(members);
    await sleep(60_000 - 8000);
    storage.restore();
    const restoredAt = Date.now();
    const recoverSeconds = await recovered(ctx, stream, config, restoredAt);
    const joins = members.reduce((n, m) => n + m.joins(), 0);
    await stopMembers(members);
    await registry.kill();
    await storage.close();
    const result = await figures(stream, { fault: this.name, rebalances: joins - base, recoverSeconds, watch, notes: 'recovery from the storage coming back' });
    await stream.close();
    return result;
  },
};

/** 2. PostgreSQL unreachable for OUTAGE seconds under 3 member processes, records arriving meanwhile. */
export function storeDown(outageSeconds: number): Scenario {
  return {
    name: `PostgreSQL down ${outageSeconds} s, 3 member processes`,
    async run(ctx) {
      const { proxy, url } = await proxiedPostgres(ctx);
      const stream = await createStream(ctx, 'store-down');
      const env = envOf(stream, { POSTGRES_URL: url });
      const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
      const watch = watchGroup(ctx, env);
      const members = [0, 1, 2].map(() => startMember(env));
      await stream.publish(0, 10);
      await recovered(ctx, stream, config, Date.now());
      const base = await settled(members);
      proxy.cut();
      const perSymbol = Math.ceil(ctx.records / stream.symbols.length);
      const down = Date.now();
      // The records arrive while the store is down.
      await stream.publishPaced(ctx.records - 10 * stream.symbols.length, Math.max(1000, (ctx.records / outageSeconds) * 1.2));
      await sleep(Math.max(0, outageSeconds * 1000 - (Date.now() - down)));
      proxy.restore();
      const restoredAt = Date.now();
      const recoverSeconds = await recovered(ctx, stream, config, restoredAt);
      const joins = members.reduce((n, m) => n + m.joins(), 0);
      const alive = members.filter((m) => m.child.exitCode === null).length;
      await stopMembers(members);
      await proxy.close();
      const result = await figures(stream, { fault: this.name, rebalances: joins - base, recoverSeconds, watch,
        notes: `${alive}/3 members alive at the end; ${perSymbol} bars per symbol` });
      await stream.close();
      return result;
    },
  };
}

/** SIGKILL of one of three members, 10 times, while the records are produced. */
export const memberKills: Scenario = {
  name: 'SIGKILL of one of 3 members, 10 times',
  async run(ctx) {
    const stream = await createStream(ctx, 'member-kills');
    const env = envOf(stream);
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    const members: Member[] = [0, 1, 2].map(() => startMember(env));
    await stream.publish(0, 10);
    await recovered(ctx, stream, config, Date.now());
    let kills = 0;
    let lastKill = Date.now();
    const all: Member[] = [...members];
    await stream.publishPaced(ctx.records - 10 * stream.symbols.length, 5000, async (fraction) => {
      if (kills < 10 && fraction >= kills / 11) {
        const victim = members.splice(kills % members.length, 1)[0]!;
        victim.child.kill('SIGKILL');
        await victim.exited;
        const replacement = startMember(env);
        members.push(replacement);
        all.push(replacement);
        kills++;
        lastKill = Date.now();
      }
    });
    const recoverSeconds = await recovered(ctx, stream, config, lastKill);
    const joins = all.reduce((n, m) => n + m.joins(), 0);
    await stopMembers(members);
    const result = await figures(stream, { fault: this.name, rebalances: joins, recoverSeconds, watch,
      notes: `${kills} kills; rebalances expected after each kill and restart; recovery from the last kill` });
    await stream.close();
    return result;
  },
};

/** 1. PostgreSQL refusing the sink's role (password changed, connections terminated) for 60 s, then restored. */
export const credentialsRevoked: Scenario = {
  name: 'PostgreSQL refusing the role (password changed) 60 s',
  async run(ctx) {
    const admin = await pgSuperuser(ctx.config.POSTGRES_URL);
    const role = `faults_${tag()}`;
    const password = `pw_${tag()}`;
    // Identifiers cannot be parameters; these are random names made here. Membership gives the sink's privileges.
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' IN ROLE ${new URL(ctx.config.POSTGRES_URL).username}`);
    const url = new URL(ctx.config.POSTGRES_URL);
    url.username = role;
    url.password = password;
    const stream = await createStream(ctx, 'credentials');
    const env = envOf(stream, { POSTGRES_URL: url.toString() });
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    const members = [0, 1, 2].map(() => startMember(env));
    try {
      await stream.publish(0, 10);
      await recovered(ctx, stream, config, Date.now());
      const base = await settled(members);
      await admin.query(`ALTER ROLE ${role} PASSWORD 'refused_${tag()}'`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      const refused = Date.now();
      await stream.publishPaced(ctx.records - 10 * stream.symbols.length, Math.max(2000, ctx.records / 50));
      await sleep(Math.max(0, 60_000 - (Date.now() - refused)));
      await admin.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
      const restoredAt = Date.now();
      const recoverSeconds = await recovered(ctx, stream, config, restoredAt);
      const joins = members.reduce((n, m) => n + m.joins(), 0);
      return await figures(stream, { fault: this.name, rebalances: joins - base, recoverSeconds, watch, notes: 'recovery from the password being restored' });
    } finally {
      await watch.stop();
      await stopMembers(members);
      await stream.close();
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await admin.end();
    }
  },
};

/** 5. `rebuild postgres` while another member of the group starts (and records arrive) during the clear. */
export const rebuildRace: Scenario = {
  name: 'rebuild while another member starts during the clear',
  async run(ctx) {
    const stream = await createStream(ctx, 'rebuild');
    const env = envOf(stream);
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX, PRICE_UPDATES_TOPIC: stream.topic.name };
    const perSymbol = Math.ceil(ctx.records / stream.symbols.length);
    await stream.publish(0, Math.ceil(perSymbol / 2));
    const replayedMarkers = stream.markers; // a rebuild replays these on purpose: dead-lettered once more, not doubled
    const watch = watchGroup(ctx, env);
    const first = startMember(env);
    await recovered(ctx, stream, config, Date.now());
    await stopMembers([first]);
    let intruder: Member | undefined;
    const started = Date.now();
    try {
      const rebuilt = await rebuild({
        config, logger: ctx.logger, sink: 'postgres', topics: { prices: stream.topic }, allowPartial: false,
        async beforeClear() {
          intruder = startMember(env); // a member joining while the store is cleared
          await stream.publish(Math.ceil(perSymbol / 2), perSymbol);
          await sleep(5000);
        },
      });
      const recoverSeconds = await recovered(ctx, stream, config, started);
      // The rewind the rebuild itself commits (each partition from its committed offset to the earliest) is no decrease.
      watch.excuse(rebuilt.rewound.map((c) => ({
        topic: c.topic, partition: c.partition, from: c.before === null ? null : Number(c.before), to: Number(c.after),
      })));
      return await figures(stream, { fault: this.name, rebalances: intruder?.joins() ?? 0, recoverSeconds, replayedMarkers, watch,
        notes: `seconds: the whole rebuild; rebalances: joins of the member that started during the clear; offsets: its own rewind excused `
          + `(${watch.excused()} of ${rebuilt.rewound.length} partitions seen rewound)` });
    } finally {
      await watch.stop();
      if (intruder) await stopMembers([intruder]);
      await stream.close();
    }
  },
};

/** A superuser connection: the configured role when it is one (Docker), else the local stack's postgres over its socket. */
async function pgSuperuser(postgresUrl: string): Promise<pg.Client> {
  const url = new URL(postgresUrl);
  for (const c of [{ connectionString: postgresUrl },
    { host: POSTGRES_SOCKET_DIR, port: Number(url.port || 5432), user: 'postgres', database: 'postgres' }] as pg.ClientConfig[]) {
    const client = new pg.Client({ ...c, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.query<{ ok: boolean }>('SELECT rolsuper AS ok FROM pg_roles WHERE rolname = current_user')).rows[0]?.ok) return client;
    } catch { /* next */ }
    await client.end().catch(() => {});
  }
  throw new Error('no PostgreSQL superuser reachable to create a role for the fault');
}
