import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
/** What bench/run.ts and its child bench/server.ts agree on. */

export const VARIANTS = ["baseline", "monitored", "fastify-metrics", "monitored-alt"] as const;
export type Variant = (typeof VARIANTS)[number];
/** What `npm run bench` compares unless told otherwise (monitored-alt is for A/B runs). */
export const DEFAULT_VARIANTS: Variant[] = ["baseline", "monitored", "fastify-metrics"];

export const VARIANT_TITLES: Record<Variant, string> = {
  baseline: "(a) no monitoring",
  monitored: "(b) full monitoring",
  "fastify-metrics": "(c) fastify-metrics",
  "monitored-alt": "(b') BENCH_ALT_YAML",
};

/** Variants that run the TUG monitoring (monitored-alt: with BENCH_ALT_YAML added). */
export const isMonitored = (v: Variant) => v === "monitored" || v === "monitored-alt";

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

/**
 * bench/server.ts for `variant` in a child process (an IPC channel, so it never outlives its
 * parent), resolved with its ready line.
 */
export async function startBenchChild(
  variant: Variant,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; ready: ChildReady }> {
  const server = fileURLToPath(new URL("./server.ts", import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", server, variant], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once("line", (line) => resolve(JSON.parse(line) as ChildReady));
    child.once("exit", (code) => reject(new Error(`bench server exited ${code}`)));
  });
  return { child, ready };
}
