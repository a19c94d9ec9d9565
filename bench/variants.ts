/** What bench/run.ts and its child bench/server.ts agree on. */

export const VARIANTS = ["baseline", "monitored", "fastify-metrics"] as const;
export type Variant = (typeof VARIANTS)[number];

export const VARIANT_TITLES: Record<Variant, string> = {
  baseline: "(a) no monitoring",
  monitored: "(b) full monitoring",
  "fastify-metrics": "(c) fastify-metrics",
};

/** The one JSON line the child prints on stdout once it is ready. */
export interface ChildReady {
  variant: Variant;
  url: string;
  token: string;
  pid: number;
}

/** The route every variant is measured on: a session lookup and a user lookup in SQLite. */
export const BENCH_PATH = "/api/v1/users/me";

export function isVariant(v: string | undefined): v is Variant {
  return (VARIANTS as readonly string[]).includes(v ?? "");
}
