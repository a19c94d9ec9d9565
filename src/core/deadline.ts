// A signal that aborts when the caller's does or when a time limit passes, for work that must end
// (a POST to a webhook that never answers, an SMTP session that stalls).
//
// Why not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`, the one-liner: on Node 20 the
// composite and its timeout signal are reachable only through weak references (the timer holds
// the timeout signal weakly; the sources hold the composite weakly), so a garbage collection
// between the start of the request and the limit can collect them, the timer then fires into
// nothing, and the request waits for the server forever (nodejs/node#57736, fix proposed in
// nodejs/node#57867; reproduced here with one forced GC, test/unit/deadline.test.ts). Here the
// timer's closure and the caller's listener hold the controller strongly until `dispose()`.

import { systemTimers, type Timers } from "./clock.js";

export interface Deadline {
  /** Aborts with the caller's reason, or with a `TimeoutError` DOMException at the limit. */
  readonly signal: AbortSignal;
  /** Clears the timer and the listener on the caller's signal; call it when the work ends. */
  dispose(): void;
}

export function deadline(parent: AbortSignal, timeoutMs: number, timers: Timers = systemTimers): Deadline {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const onParentAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener("abort", onParentAbort, { once: true });
  const timer = timers.setTimeout(() => {
    parent.removeEventListener("abort", onParentAbort);
    controller.abort(new DOMException(`timed out after ${timeoutMs}ms`, "TimeoutError"));
  }, timeoutMs);
  // The work itself (a socket) keeps the process alive while it runs; the limit never should.
  timer.unref();
  return {
    signal: controller.signal,
    dispose: () => {
      timers.clearTimeout(timer);
      parent.removeEventListener("abort", onParentAbort);
    },
  };
}
