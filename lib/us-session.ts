// The regular session of the US exchanges, 09:30–16:00 America/New_York, with daylight saving time from the time zone
// database behind Intl (no hand-made table). Holidays and half days are not known here: a caller that needs them must
// not assume every weekday trades.
export const EXCHANGE_TIME_ZONE = 'America/New_York';
export const SESSION_OPEN_MINUTE = 9 * 60 + 30;
export const SESSION_CLOSE_MINUTE = 16 * 60;

const wallClock = new Intl.DateTimeFormat('en-US', {
  timeZone: EXCHANGE_TIME_ZONE, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

/** New York wall time minus UTC at instant `t`, in ms (-5 h in winter, -4 h in summer). */
function offsetMs(t: number): number {
  const p: Record<string, string> = {};
  for (const part of wallClock.formatToParts(new Date(t))) p[part.type] = part.value;
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(t / 1000) * 1000;
}

/** The New York date (YYYY-MM-DD) of instant `t`. */
export function exchangeDate(t: number): string {
  return new Date(t + offsetMs(t)).toISOString().slice(0, 10);
}

/** The instant of `minute` minutes after midnight, New York time, on `day` (YYYY-MM-DD). */
export function exchangeTime(day: string, minute: number): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d) + minute * 60_000;
  const guess = wall - offsetMs(wall);
  return wall - offsetMs(guess); // the offset at the instant itself, in case a DST change lies between
}

/** The instant the regular session of `day` closes (16:00 New York). */
export function sessionCloseUtc(day: string): number {
  return exchangeTime(day, SESSION_CLOSE_MINUTE);
}
