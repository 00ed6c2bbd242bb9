// Long-running commands: on SIGINT/SIGTERM stop gracefully (stop fetching, finish the batch in flight, commit,
// disconnect), exit 0; a second signal (either one, e.g. Ctrl-C twice), the grace period (SHUTDOWN_GRACE_SECONDS)
// running out, or a stop that had to abandon what could not finish in it (`stop` resolving to false) exits 1. Once stopped, a handle some client left open cannot keep the process alive: it exits 0 after
// EXIT_LINGER_MS at most. A consumer group member that stops for good on its own (`failed`: kafkajs crashed without
// restarting, or the same unclassified error again and again) stops the command the same way, and it exits 1, so a
// supervisor (the parent of `consume --instances N`, docker, systemd) sees it and starts it again.
import type { Logger } from '../lib/logger.ts';

/** After a clean stop, how long the process may linger (closing sockets, flushing) before it exits anyway. */
export const EXIT_LINGER_MS = 3000;

export function stopOnSignal(logger: Logger, stop: () => Promise<void | boolean>, graceMs: number, failed?: Promise<Error>): Promise<void> {
  // A member process of `consume --instances N` stops when its parent says so (SIGTERM, or the parent gone), not on
  // the terminal's Ctrl-C, which reaches the whole process group: the parent then stops every member once.
  const member = process.env.MARKETSTREAM_MEMBER !== undefined && typeof process.send === 'function';
  if (member) {
    process.on('SIGINT', () => {});
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  return new Promise((resolve) => {
    let stopping = false;
    // Node calls a signal listener with (signal, number): only the first is read.
    const onSignal = (signal: NodeJS.Signals | 'member failed') => {
      const exitCode = signal === 'member failed' ? 1 : 0;
      if (stopping) {
        if (signal === 'member failed') { process.exitCode = 1; return; }
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      const started = Date.now();
      if (exitCode) process.exitCode = exitCode;
      logger.info({ signal, graceMs }, 'shutting down gracefully: finishing the batches in flight, committing, disconnecting');
      const timer = setTimeout(() => { logger.error({ graceMs }, 'graceful shutdown took too long; exiting'); process.exit(1); }, graceMs);
      timer.unref();
      stop().then((clean) => {
        clearTimeout(timer);
        if (clean === false) {
          // Something could not finish within the grace period and was abandoned (its records are read again by the
          // partition's next owner): stopped, but not gracefully.
          logger.error({ signal, tookMs: Date.now() - started }, 'stopped; what could not finish within the grace period was abandoned, exit code 1');
          process.exitCode = 1;
        } else logger.info({ signal, tookMs: Date.now() - started }, 'stopped');
        process.exitCode ??= 0;
        setTimeout(() => process.exit(), EXIT_LINGER_MS).unref();
        resolve();
      }, (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      });
    };
    // `on`, not `once`: with no listener left, a second SIGTERM or SIGINT would get Node's default action (killed by
    // the signal, no exit code) instead of the exit 1 promised.
    if (!member) process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void failed?.then((err) => {
      logger.error({ err: err.message }, 'a consumer group member stopped for good; stopping the command, exit code 1');
      onSignal('member failed');
    });
  });
}
