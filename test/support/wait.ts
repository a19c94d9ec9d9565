/**
 * Waiting for an event instead of for a fixed time. A loaded CI machine only makes these
 * slower, never wrong: the condition is polled until it holds or a generous deadline passes,
 * and a timeout says what was awaited and what was seen last.
 */

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Poll period (default 50 ms). */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns a value other than undefined/false and returns that value.
 * `what` names the condition for the timeout error; `last` (optional) describes the state seen.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions & { last?: () => unknown } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      const seen = opts.last ? `; last seen: ${JSON.stringify(opts.last())?.slice(0, 2000)}` : "";
      throw new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${what}${seen}`);
    }
    await pause(opts.intervalMs ?? 50);
  }
}
