// Fault injection, a testing aid (docs/fault-injection.md): with `faults.*` set this instance
// behaves like a bad release — a share of /api/* requests answer 500, every /api/* response is
// delayed, or the health check "fault_injection" fails — so that deployment monitoring can be
// shown catching one, end to end. Off by default; the configuration refuses it in production.
// The monitoring routes and the probes are never touched: the monitor must see the fault
// through the API's own metrics and health, as it would see a real one.

import type { FastifyRequest } from "fastify";
import type { Config } from "../core/config/index.js";
import { TugError } from "../core/errors.js";
import { type AppCapability, need } from "./context.js";

export type FaultSettings = Config["faults"];

/** Whether any fault is set. */
export function faultsOn(f: FaultSettings): boolean {
  return f.errorPercent > 0 || f.latencyMs > 0 || f.healthFail;
}

/**
 * Which requests fail: an exact share spread evenly (Bresenham's rule), so that after n requests
 * exactly floor(n × percent / 100) have failed — tests and the end-to-end scenarios see the
 * configured share at any load, with no randomness to tolerate.
 */
export function errorSpreader(percent: number): () => boolean {
  let n = 0;
  return () => {
    const before = Math.floor((n * percent) / 100);
    n += 1;
    return Math.floor((n * percent) / 100) > before;
  };
}

const isApi = (req: FastifyRequest) => req.url.startsWith("/api/");

export const faults: AppCapability = {
  name: "faults",
  build(ctx) {
    const f = ctx.config.faults;
    if (!faultsOn(f)) return [];
    const fastify = need(ctx, "fastify", "faults");
    const logger = need(ctx, "logger", "faults");
    if (f.errorPercent > 0 || f.latencyMs > 0) {
      const shouldFail = errorSpreader(f.errorPercent);
      // After the metrics hook (src/app/http.ts): the delay and the 500s are measured and counted
      // like any response's.
      fastify.addHook("onRequest", (req, _reply, done) => {
        if (!isApi(req)) return done();
        const fail = f.errorPercent > 0 && shouldFail();
        const finish = () =>
          fail
            ? done(
                new TugError(
                  "INTERNAL",
                  "Something went wrong on our side (fault injected: faults.errorPercent)",
                ),
              )
            : done();
        if (f.latencyMs > 0) setTimeout(finish, f.latencyMs);
        else finish();
      });
    }
    if (f.healthFail) {
      // Not critical: readiness (and so the probes and any load balancer) stays as it was; the
      // health endpoint, which deployment monitoring polls, fails.
      ctx.health?.register(
        "fault_injection",
        () => ({
          status: "fail",
          output: "fault injected: faults.healthFail (TUG_FAULT_HEALTH_FAIL) makes this check fail",
        }),
        { critical: false },
      );
    }
    return [
      {
        name: "faults",
        start: () => {
          logger.warn(
            {
              event: "fault_injection",
              faults: f,
              healthCheck: f.healthFail && !ctx.health ? "none: monitoring is off" : undefined,
            },
            "fault injection is ON (a testing aid, docs/fault-injection.md): this instance fails on purpose",
          );
        },
      },
    ];
  },
};
