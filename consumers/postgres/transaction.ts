// One transaction on one pooled connection, for the sink's writes: BEGIN, the work, COMMIT (ROLLBACK when it throws),
// and the connection given back to the pool, or dropped when it may be broken (lost while checked out, or an error
// that is not the server refusing a statement).
import pg from 'pg';
import type { Pool } from '../../lib/stores/postgres.ts';

/** `prepare` runs on the connection before BEGIN (session state, e.g. a temporary table, that a rollback must not undo). */
export async function inTransaction<R>(pool: Pool, work: (client: pg.PoolClient) => Promise<R>,
  prepare?: (client: pg.PoolClient) => Promise<void>): Promise<R> {
  const client = await pool.connect();
  let broken = false;
  // A connection lost while checked out is reported here (and by the query in flight); the pool listens only to idle ones.
  const lost = () => { broken = true; };
  client.on('error', lost);
  try {
    await prepare?.(client);
    await client.query('BEGIN');
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // Not the server refusing a statement (a query timeout, a lost connection): the connection is discarded, not
      // rolled back, since a ROLLBACK behind a call that never ended would wait its own query timeout.
      if (err instanceof pg.DatabaseError) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw err;
    }
  } catch (err) {
    broken ||= !(err instanceof pg.DatabaseError); // not the server refusing a statement: the connection itself may be gone
    throw err;
  } finally {
    client.off('error', lost);
    client.release(broken);
  }
}
