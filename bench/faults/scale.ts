// Fault (issue #19, item 6): a postgres-sink group scaled 1 → 3 → 1 members while the stream carries corrections (the
// same bar published again with other values), withdrawals (market-events tombstones) and re-publications of the same
// event ids, with PostgreSQL behind a TCP proxy that delays every chunk so writes are in flight at each rebalance.
// Members are `marketstream consume postgres` processes; the two that joined are stopped with SIGTERM.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createStream, envOf, figures, proxiedPostgres, recovered, settled, startMember, stopMembers, watchGroup, type Member, type Scenario,
} from './harness.ts';

/** Delay per chunk, each way, on the members' link to PostgreSQL: a batch's BEGIN, COPY, merge and COMMIT take ~0.5 s. */
const LATENCY_MS = 60;
/** Rounds of publishing, about one a second; members join at ROUNDS/5 and leave at 3·ROUNDS/5. */
const ROUNDS = 30;
/** New event ids per round. */
const EVENTS = 8;

export const scaleDuringCorrections: Scenario = {
  name: 'scale 1 -> 3 -> 1 during corrections',
  async run(ctx) {
    const { proxy, url } = await proxiedPostgres(ctx);
    const stream = await createStream(ctx, 'scale', { events: true });
    const env = envOf(stream, { POSTGRES_URL: url });
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    const members: Member[] = [startMember(env)];
    const ids = (round: number) => Array.from({ length: EVENTS }, (_, k) => stream.eventId(round * EVENTS + k));
    let withdrawn = 0;
    let republished = 0;
    const stops: string[] = [];
    /** When PostgreSQL calls were on the slowed link (sampled every 50 ms): to tell whether writes were in flight at each join. */
    const busyAt: number[] = [];
    let sampling = true;
    const sampler = (async () => { while (sampling) { if (proxy.inTransit() > 0) busyAt.push(Date.now()); await sleep(50); } })();
    try {
      await stream.publish(0, 10);
      await recovered(ctx, stream, config, Date.now());
      const base = await settled(members);
      ctx.say('1 member settled; producing');
      proxy.latency(LATENCY_MS);
      const perRound = Math.max(1, Math.ceil((ctx.records / stream.symbols.length - 10) / ROUNDS));
      let stopping: Promise<void> | undefined;
      for (let r = 1; r <= ROUNDS; r++) {
        const started = Date.now();
        const from = 10 + (r - 1) * perRound;
        await stream.publish(from, from + perRound); // new bars
        await stream.publish(Math.max(0, from - perRound), from, r); // corrections of the previous round's bars
        await stream.publishEvents(ids(r), 0); // new events
        if (r > 1) { await stream.publishEvents(ids(r - 1), r); republished += EVENTS; } // re-published with other values
        if (r > 2) { // half of those of two rounds ago withdrawn
          const gone = ids(r - 2).filter((_, k) => k % 2 === 0);
          await stream.withdraw(gone);
          withdrawn += gone.length;
        }
        if (r > 3) { await stream.publishEvents(ids(r - 3).filter((_, k) => k % 4 === 0), r); republished += EVENTS / 4; } // some withdrawn ones come back
        if (r === ROUNDS / 5) {
          members.push(startMember(env), startMember(env));
          ctx.say(`round ${r}: 2 members started`);
        }
        if (r === (3 * ROUNDS) / 5) {
          const leaving = members.slice(1);
          const at = Date.now();
          for (const m of leaving) m.child.kill('SIGTERM');
          ctx.say(`round ${r}: 2 members SIGTERMed`);
          stopping = Promise.all(leaving.map(async (m) => {
            const code = await Promise.race([m.exited, sleep(60_000).then(() => 'none within 60 s')]);
            stops.push(`exit ${String(code)} after ${((Date.now() - at) / 1000).toFixed(1)} s`);
          })).then(() => undefined);
        }
        await sleep(Math.max(0, 1000 - (Date.now() - started)));
      }
      await stream.publish(10 + (ROUNDS - 1) * perRound, 10 + ROUNDS * perRound, ROUNDS + 1); // the last round's corrections
      const endedAt = Date.now();
      await stopping;
      ctx.say(`produced; stopped members: ${stops.join(', ')}; waiting for the group to catch up`);
      const recoverSeconds = await recovered(ctx, stream, config, endedAt);
      const joins = members.reduce((n, m) => n + m.joins(), 0);
      sampling = false;
      await sampler;
      // The joins after the first settled: did a write travel on the link in the 1.5 s before each?
      const rejoins = members.flatMap((m) => m.joinTimes).sort((a, b) => a - b).slice(base);
      const inFlight = rejoins.filter((t) => busyAt.some((b) => b <= t && b >= t - 1500)).length;
      await stopMembers(members);
      return await figures(stream, { fault: this.name, rebalances: joins - base, recoverSeconds, watch,
        notes: `${stream.corrections} corrections, ${ROUNDS * EVENTS} events, ${republished} re-published, ${withdrawn} withdrawn; `
          + `PostgreSQL +${LATENCY_MS} ms per chunk each way, calls on it in the 1.5 s before ${inFlight} of ${rejoins.length} joins; `
          + `the 2 SIGTERMed members: ${stops.join(', ')}; recovery from the last record` });
    } finally {
      sampling = false;
      await watch.stop();
      await stopMembers(members);
      await proxy.close();
      await stream.close();
    }
  },
};
