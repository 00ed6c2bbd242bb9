// A progress bar on stderr (cli-progress) for long operations: done/total, rate and ETA. Drawn only on a terminal, so
// piped output and scripts see just the final summary the command prints.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, perSecond: number, extra?: string): void;
  stop(): void;
}

export function progressBar(unit: string): Progress {
  const tty = Boolean(process.stderr.isTTY);
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `{bar} {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}{extra}`,
    hideCursor: true,
    etaBuffer: 50,
    noTTYOutput: false,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total, perSecond, extra = '') {
      if (!tty) return;
      const payload = { rate: perSecond.toLocaleString('en-US'), extra: extra ? ` | ${extra}` : '' };
      if (!started) { bar.start(total, done, payload); started = true; return; }
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop() { if (started) bar.stop(); started = false; },
  };
}
