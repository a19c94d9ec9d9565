// The text of an access line, shared by the two places that build one: the API's thread
// (src/logs/logger.ts, when the line cannot go to the log thread) and the log thread
// (src/logs/thread/worker.ts, from the fields the API's thread put in the ring). Both must write
// the same bytes pino would for `log[level]({event: "access", …}, msg)` (test/access-line.test.ts).

/**
 * pino's ISO timestamp (`,"time":"…"`) of a time in ms: `toISOString()` (a printf inside V8) cost
 * ~0.7 µs a line, a fifth of an access line, so the date and time are formatted once per second and
 * the milliseconds appended. Same text as pino.stdTimeFunctions.isoTime (tested). Each formatter
 * keeps its own cache (one per thread).
 */
export function isoTimeFormatter(): (ms: number) => string {
  let lastSecond = Number.NaN;
  let secondPrefix = "";
  let lastTimeMs = Number.NaN;
  let lastTime = "";
  return (ms: number): string => {
    if (ms !== lastTimeMs) {
      lastTimeMs = ms;
      const second = Math.floor(ms / 1000);
      if (second !== lastSecond) {
        lastSecond = second;
        // "2026-12-06T18:19:32." (the date of a negative or five-digit year is longer: cut at the dot)
        const iso = new Date(second * 1000).toISOString();
        secondPrefix = `,"time":"${iso.slice(0, iso.lastIndexOf(".") + 1)}`;
      }
      const frac = ms - second * 1000;
      lastTime = `${secondPrefix}${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}Z"`;
    }
    return lastTime;
  };
}

/**
 * JSON.stringify of a string, without its setup cost for the common URL that needs no escaping:
 * no control character, quote, backslash or surrogate (JSON.stringify escapes lone ones).
 */
export function jsonString(s: string): string {
  if (s.length > 256) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** A number as pino writes one: non-finite values are null. */
const num = (n: number) => (Number.isFinite(n) ? String(n) : "null");

/**
 * `,"event":"access","method":…,"route":…`: constant per method and route, made once per kind of
 * line (src/logs/logger.ts keeps it in the line's AccessKind).
 */
export function accessPiece(method: string, route: string): string {
  return `,"event":"access","method":${JSON.stringify(method)},"route":${JSON.stringify(route)}`;
}

/**
 * The varying members after the piece: `,"url":…,"statusCode":…,"durationMs":…[,"bytes":…]`.
 * `url` is already cut and scrubbed; `bytes` undefined leaves the member out (no content-length).
 */
export function accessTail(
  url: string,
  statusCode: number,
  durationMs: number,
  bytes: number | undefined,
): string {
  return (
    `,"url":${jsonString(url)},"statusCode":${num(statusCode)},"durationMs":${num(durationMs)}` +
    (bytes === undefined ? "" : `,"bytes":${num(bytes)}`)
  );
}
