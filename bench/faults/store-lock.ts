// Fault (issue #19, item 6): a store call that hangs. Another session holds LOCK TABLE price_data IN ACCESS EXCLUSIVE
// MODE for HOLD_MS while 2 postgres-sink members run and records arrive, so their writes wait on the lock; one member
// is SIGTERMed during it; the lock is released; the group catches up. The members are given a lock timeout
// (POSTGRES_LOCK_TIMEOUT_MS, shorter than the hold) and a grace period shorter than the rest of the hold, so the row
// shows whether a store call has a deadline and whether stop() ends within its grace while the call hangs.
// price_data is shared: the lock is held by this run only (its session ends it after HOLD_MS + 5 s even if we die).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createStream, envOf, figures, recovered, settled, startMember, stopMembers, watchGroup, type Scenario } from './harness.ts';

const HOLD_MS = 18_000;
/** After the lock is taken: the member is stopped this much later. */
const STOP_AFTER_MS = 4000;
const LOCK_TIMEOUT_MS = 3000;
const GRACE_SECONDS = 10;

export const storeCallHangs: Scenario = {
  name: 'store call hangs (LOCK TABLE price_data) while a member stops',
  async run(ctx) {
    const stream = await createStream(ctx, 'store-lock');
    const env = envOf(stream, { POSTGRES_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS), SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) });
    const config = { ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX };
    const watch = watchGroup(ctx, env);
    const members = [startMember(env), startMember(env)];
    const locker = new pg.Client({ connectionString: ctx.config.POSTGRES_URL, connectionTimeoutMillis: 5000 });
    locker.on('error', () => {});
    let locked = false;
    try {
      await stream.publish(0, 10);
      await recovered(ctx, stream, config, Date.now());
      const base = await settled(members);
      await locker.connect();
      // Waits at most 5 s for the lock (other sessions' work on price_data); the server ends the session, and so the
      // lock, if this process stops talking to it for HOLD_MS + 5 s.
      await locker.query(`SET lock_timeout = 5000; SET idle_in_transaction_session_timeout = ${HOLD_MS + 5000}`);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE price_data IN ACCESS EXCLUSIVE MODE');
      locked = true;
      const lockedAt = Date.now();
      const perSymbol = Math.ceil(ctx.records / stream.symbols.length);
      const half = Math.ceil(perSymbol / 2);
      await stream.publish(10, half); // the members' writes of these wait on the lock
      await sleep(Math.max(0, STOP_AFTER_MS - (Date.now() - lockedAt)));
      // Who waits on the lock now (any client of the server: price_data is shared).
      const waiting = Number((await ctx.pool.query(
        `SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 'price_data'::regclass AND NOT granted`)).rows[0].count);
      const victim = members[0]!;
      const stoppedAt = Date.now();
      victim.child.kill('SIGTERM');
      const exit = victim.exited.then((code) => ({ code, signal: victim.child.signalCode, seconds: (Date.now() - stoppedAt) / 1000 }));
      await sleep(Math.max(0, HOLD_MS - (Date.now() - lockedAt)));
      await locker.query('ROLLBACK');
      locked = false;
      const releasedAt = Date.now();
      await stream.publish(half, perSymbol);
      const stopped = await Promise.race([exit, sleep(60_000).then(() => null)]);
      if (!stopped) victim.child.kill('SIGKILL');
      const recoverSeconds = await recovered(ctx, stream, config, releasedAt);
      const joins = members.reduce((n, m) => n + m.joins(), 0);
      const releasedAfter = ((releasedAt - stoppedAt) / 1000).toFixed(1);
      const how = stopped
        ? `exit code ${String(stopped.code)}${stopped.signal ? ` (${stopped.signal})` : ''} ${stopped.seconds.toFixed(1)} s after its SIGTERM`
        : 'no exit within 60 s of its SIGTERM (SIGKILLed)';
      await stopMembers(members);
      return await figures(stream, { fault: this.name, rebalances: joins - base, recoverSeconds, watch,
        notes: `lock held ${HOLD_MS / 1000} s, ${waiting} session(s) waiting on it at the SIGTERM; stopping member: ${how}, `
          + `lock released ${releasedAfter} s after the SIGTERM `
          + `(members: POSTGRES_LOCK_TIMEOUT_MS=${LOCK_TIMEOUT_MS}, SHUTDOWN_GRACE_SECONDS=${GRACE_SECONDS}); recovery from the release` });
    } finally {
      if (locked) await locker.query('ROLLBACK').catch(() => {});
      await locker.end().catch(() => {});
      await watch.stop();
      await stopMembers(members);
      await stream.close();
    }
  },
};
