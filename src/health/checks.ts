import { connect } from "node:net";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { hideUrlCredentials } from "../core/secrets.js";
import type { SystemMetrics } from "../metrics/system.js";
import type { CheckSpec, HealthStatus, Observation } from "./types.js";

const pct = (ratio: number) => Math.round(ratio * 1000) / 10;
const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
const ms = (v: number) => Math.round(v * 100) / 100;

function byThreshold(value: number, warn: number, fail: number): HealthStatus {
  return value >= fail ? "fail" : value >= warn ? "warn" : "pass";
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? String(err);
  return e?.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}

/** A real round trip to the database (`SELECT 1`), its latency in ms. */
export function databaseCheck(
  ping: () => Promise<unknown>,
  dialect: string,
  opts: { timeoutMs: number; warnMs: number },
): CheckSpec {
  return {
    name: "database",
    key: "database:responseTime",
    componentType: "datastore",
    critical: true,
    timeoutMs: opts.timeoutMs,
    async run() {
      const t = performance.now();
      try {
        await ping();
      } catch (err) {
        return {
          status: "fail",
          output: `${dialect} round trip failed: ${errorText(err)}`,
          componentId: dialect,
        };
      }
      const latency = performance.now() - t;
      return {
        componentId: dialect,
        observedValue: ms(latency),
        observedUnit: "ms",
        status: latency >= opts.warnMs ? "warn" : "pass",
        ...(latency >= opts.warnMs
          ? { output: `round trip took ${ms(latency)} ms (warn at ${opts.warnMs} ms)` }
          : {}),
      };
    },
  };
}

/** Redis PING and its latency. */
export function redisCheck(
  ping: () => Promise<string>,
  opts: { timeoutMs: number; critical: boolean },
): CheckSpec {
  return {
    name: "redis",
    key: "redis:responseTime",
    componentType: "datastore",
    critical: opts.critical,
    timeoutMs: opts.timeoutMs,
    async run() {
      const t = performance.now();
      try {
        const reply = await ping();
        if (reply !== "PONG") return { status: "fail", output: `PING answered ${JSON.stringify(reply)}` };
      } catch (err) {
        return { status: "fail", output: `Redis PING failed: ${errorText(err)}` };
      }
      return { observedValue: ms(performance.now() - t), observedUnit: "ms", status: "pass" };
    },
  };
}

type Thresholds = { warn: number; fail: number };

/** Memory, CPU and disk from the system sampler (never a second reading of the same numbers). */
export function resourceChecks(
  system: SystemMetrics,
  opts: { timeoutMs: number; memory: Thresholds; cpu: Thresholds; disk: Thresholds },
): CheckSpec[] {
  const base = { componentType: "system", critical: false, timeoutMs: opts.timeoutMs };
  return [
    {
      ...base,
      name: "memory",
      key: "memory:utilization",
      async run(): Promise<Observation> {
        const s = system.snapshot;
        const status = byThreshold(s.memoryUsageRatio, opts.memory.warn, opts.memory.fail);
        return {
          observedValue: pct(s.memoryUsageRatio),
          observedUnit: "percent",
          status,
          output: `${gib(s.memoryAvailableBytes)} available of ${gib(s.memoryTotalBytes)}`,
        };
      },
    },
    {
      ...base,
      name: "cpu",
      key: "cpu:utilization",
      async run(): Promise<Observation> {
        const s = system.snapshot;
        return {
          observedValue: pct(s.cpuUsageRatio),
          observedUnit: "percent",
          // fail 1 (the default) means "never": every core busy for a whole sample is a loaded host,
          // not a failed instance; the event-loop check fails when the load delays requests.
          status: byThreshold(
            s.cpuUsageRatio,
            opts.cpu.warn,
            opts.cpu.fail >= 1 ? Number.POSITIVE_INFINITY : opts.cpu.fail,
          ),
          output: `load average ${s.load.map((l) => l.toFixed(2)).join(" ")}`,
        };
      },
    },
    {
      ...base,
      name: "disk",
      key: "disk:utilization",
      async run(): Promise<Observation[]> {
        const disks = system.snapshot.disks;
        if (disks.length === 0)
          return [{ status: "fail", output: "no volume could be read (statfs failed)" }];
        return disks.map((d) => ({
          componentId: d.mountpoint,
          observedValue: pct(d.usageRatio),
          observedUnit: "percent",
          status: byThreshold(d.usageRatio, opts.disk.warn, opts.disk.fail),
          output: `${gib(d.freeBytes)} free of ${gib(d.sizeBytes)}`,
        }));
      },
    },
  ];
}

/** Event-loop delay: p99 over the time since the previous run of the check. */
export function eventLoopCheck(opts: { timeoutMs: number; warnMs: number; failMs: number }): CheckSpec & {
  stop(): void;
} {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return {
    name: "event_loop",
    key: "eventLoop:delay",
    componentType: "system",
    critical: false,
    timeoutMs: opts.timeoutMs,
    async run() {
      const p99 = h.count > 0 ? h.percentile(99) / 1e6 : 0;
      const max = h.count > 0 ? h.max / 1e6 : 0;
      h.reset();
      return {
        observedValue: ms(p99),
        observedUnit: "ms",
        status: byThreshold(p99, opts.warnMs, opts.failMs),
        output: `p99 ${ms(p99)} ms, max ${ms(max)} ms since the last check`,
      };
    },
    stop: () => h.disable(),
  };
}

export interface TargetConfig {
  name: string;
  url: string;
  critical: boolean;
  timeoutMs?: number;
}

/** Network connectivity to a target: a TCP connect (tcp://host:port) or an HTTP GET. */
export function targetCheck(target: TargetConfig, defaultTimeoutMs: number): CheckSpec {
  const shown = hideUrlCredentials(target.url);
  // Credentials in the URL go in an Authorization header: fetch refuses them in the URL, and
  // its error would quote the URL with them.
  const parsed = new URL(target.url);
  const headers: Record<string, string> = {};
  if (parsed.username || parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const pass = decodeURIComponent(parsed.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    parsed.username = "";
    parsed.password = "";
  }
  const url = parsed.toString();
  return {
    name: `target_${target.name}`,
    key: `${target.name}:connectivity`,
    componentType: "component",
    critical: target.critical,
    timeoutMs: target.timeoutMs ?? defaultTimeoutMs,
    async run(signal) {
      const t = performance.now();
      try {
        if (target.url.startsWith("tcp://")) {
          const u = new URL(target.url);
          await new Promise<void>((resolve, reject) => {
            const socket = connect({ host: u.hostname, port: Number(u.port), signal });
            socket.once("connect", () => {
              socket.destroy();
              resolve();
            });
            socket.once("error", reject);
          });
        } else {
          const res = await fetch(url, { signal, redirect: "manual", headers });
          await res.body?.cancel();
          if (res.status >= 400) {
            return { status: "fail", componentId: shown, output: `GET ${shown} answered ${res.status}` };
          }
        }
      } catch (err) {
        const why = errorText(err).split(target.url).join(shown);
        return { status: "fail", componentId: shown, output: `cannot reach ${shown}: ${why}` };
      }
      return {
        componentId: shown,
        observedValue: ms(performance.now() - t),
        observedUnit: "ms",
        status: "pass",
      };
    },
  };
}
