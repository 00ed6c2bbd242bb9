// Members of a group as OS processes (`marketstream consume <sink>`, postgres by default; namespaced by KAFKA_GROUP_PREFIX and
// PRICE_UPDATES_TOPIC) over an isolated price topic, for tests that kill, stop and restart members: the topic, a pool,
// a publisher and the group, set up before the tests and removed after (the members still running are stopped first).
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { sinks, type SinkName } from '../../consumers/catalog.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { deleteTestTopics, randomName, testConfig, testLogger } from '../helpers/index.ts';

export interface Member { name: string; child: ChildProcess; output: string[]; exited: Promise<number | null> }

export function sinkProcesses(name: string, extraEnv: Record<string, string>, sink: SinkName = 'postgres') {
  const prefix = randomName(`test-${name}`);
  const topic = withName(priceUpdates, randomName(`test-${name}-prices`));
  const env = { KAFKA_GROUP_PREFIX: prefix, PRICE_UPDATES_TOPIC: topic.name, METRICS_PORT: '0', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...extraEnv };
  const config = testConfig(env);
  const logger = testLogger(`${name}-test`);
  const kafka = createKafka(config, logger, `${name}-test`);
  const admin = kafka.admin();
  const symbols: string[] = [];
  const members: Member[] = [];
  const f = {
    prefix, topic, env, config, logger, kafka, admin, symbols, members, groupId: `${prefix}.${sinks[sink].name}`,
    pool: undefined as unknown as Pool, publisher: undefined as unknown as Publisher,
    /** Starts a member (its client id ends in `name`). */
    start(member: string): Member {
      const child = spawn(process.execPath, ['bin/marketstream.js', 'consume', sink], {
        env: { ...process.env, ...env, KAFKA_CLIENT_ID: `${prefix}-${member}` }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output: string[] = [];
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const m = { name: member, child, output, exited };
      members.push(m);
      return m;
    },
    /** Rows of price_data for the fixture's symbols. */
    rows: async () => Number((await f.pool.query('SELECT count(*) AS n FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0].n),
  };
  beforeAll(async () => {
    await admin.connect();
    f.pool = createPgPool(config, { max: 2 });
    await ensureTopics(kafka, config, [topic]);
    f.publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await f.publisher.connect();
  });
  afterAll(async () => {
    for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) { m.child.kill('SIGTERM'); await m.exited; }
    await f.publisher?.disconnect();
    await f.pool?.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await f.pool?.end();
    await admin.deleteGroups([f.groupId]).catch(() => {});
    await admin.disconnect();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });
  return f;
}
