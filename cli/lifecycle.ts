// Long-running commands: on SIGINT/SIGTERM stop gracefully (finish the batch in flight, commit, disconnect), exit 0;
// a second signal or the grace period running out exits 1.
import type { Logger } from '../lib/logger.ts';

export function stopOnSignal(logger: Logger, stop: () => Promise<void>, graceMs = 30_000): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) { logger.warn({ signal }, 'second signal: exiting now'); process.exit(1); }
      stopping = true;
      logger.info({ signal }, 'shutting down gracefully');
      const timer = setTimeout(() => { logger.error({ graceMs }, 'graceful shutdown took too long; exiting'); process.exit(1); }, graceMs);
      timer.unref();
      stop().then(() => { clearTimeout(timer); resolve(); }, (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
