// Bar intervals of price-updates and their lengths; one place so validation, sources and staleness agree.
export const PRICE_INTERVALS = ['tick', '1m', '5m', '1h', '1d'] as const;
export type PriceInterval = (typeof PRICE_INTERVALS)[number];

const MS: Record<PriceInterval, number> = { tick: 0, '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };

export function isPriceInterval(v: string): v is PriceInterval {
  return (PRICE_INTERVALS as readonly string[]).includes(v);
}

/** Length of a bar in ms; 0 for `tick` (a point in time). */
export function intervalMs(interval: PriceInterval): number {
  return MS[interval];
}

/** Start of the bar of `interval` containing `t` (UTC-aligned); `t` itself for ticks. */
export function barStart(t: number, interval: PriceInterval): number {
  const ms = MS[interval];
  return ms === 0 ? t : Math.floor(t / ms) * ms;
}
