// Wall-clock time in an IANA time zone and back, with daylight saving time from the time zone database behind Intl.
const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Whether Intl knows `timeZone` (e.g. America/New_York, UTC). */
export function isTimeZone(timeZone: string): boolean {
  try { format(timeZone); return true; } catch { return false; }
}

/** Wall time in `timeZone` minus UTC at instant `t`, in ms (New York: -5 h in winter, -4 h in summer). */
export function zoneOffsetMs(t: number, timeZone: string): number {
  const p: Record<string, string> = {};
  for (const part of format(timeZone).formatToParts(new Date(t))) p[part.type] = part.value;
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(t / 1000) * 1000;
}

/** The instant whose wall time in `timeZone` is `wall` (a wall time written as if it were UTC, in ms). */
export function wallTimeToUtc(wall: number, timeZone: string): number {
  const guess = wall - zoneOffsetMs(wall, timeZone);
  return wall - zoneOffsetMs(guess, timeZone); // the offset at the instant itself, in case a DST change lies between
}
