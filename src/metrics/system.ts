import { readFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";
import { Gauge, type Registry } from "prom-client";
import { systemTimers, type TimerHandle, type Timers } from "../core/clock.js";

interface CpuTimes {
  idle: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

/** Available memory as the kernel reckons it (MemAvailable), falling back to os.freemem(). */
function memory(): { total: number; available: number } {
  try {
    const text = readFileSync("/proc/meminfo", "utf8");
    const total = /^MemTotal:\s+(\d+) kB/m.exec(text);
    const avail = /^MemAvailable:\s+(\d+) kB/m.exec(text);
    if (total?.[1] && avail?.[1])
      return { total: Number(total[1]) * 1024, available: Number(avail[1]) * 1024 };
  } catch {
    // not Linux: fall through
  }
  return { total: totalmem(), available: freemem() };
}

/** The mount point holding `path`, from /proc/self/mountinfo (the path itself elsewhere). */
export function mountPointOf(path: string): string {
  const abs = resolve(path);
  try {
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[4])
      .filter((m): m is string => !!m)
      .map((m) => m.replace(/\\040/g, " "));
    let best = "/";
    for (const m of mounts) {
      if ((abs === m || abs.startsWith(m.endsWith("/") ? m : `${m}/`)) && m.length > best.length) best = m;
    }
    return best;
  } catch {
    return abs;
  }
}

/** Nearest existing ancestor, so a data directory not made yet still maps to its volume. */
async function statfsNearest(path: string): Promise<Awaited<ReturnType<typeof statfs>>> {
  let p = resolve(path);
  for (;;) {
    try {
      return await statfs(p);
    } catch (err) {
      const parent = resolve(p, "..");
      if (parent === p) throw err;
      p = parent;
    }
  }
}

export interface SystemSnapshot {
  cpuUsageRatio: number;
  memoryUsageRatio: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  load: [number, number, number];
  disks: Array<{ mountpoint: string; usageRatio: number; freeBytes: number; sizeBytes: number }>;
}

/**
 * Samples system CPU, memory, disk and load on a timer into gauges. CPU usage needs two
 * readings, so it is the busy share of all cores between consecutive samples.
 */
export class SystemMetrics {
  private readonly cpu: Gauge;
  private readonly mem: Gauge;
  private readonly memTotal: Gauge;
  private readonly memAvail: Gauge;
  private readonly disk: Gauge<"mountpoint">;
  private readonly diskFree: Gauge<"mountpoint">;
  private readonly diskSize: Gauge<"mountpoint">;
  private readonly load: Gauge<"window">;
  private last: CpuTimes = cpuTimes();
  private timer: TimerHandle | undefined;
  private readonly mounts: Map<string, string>;
  snapshot: SystemSnapshot = {
    cpuUsageRatio: 0,
    memoryUsageRatio: 0,
    memoryTotalBytes: 0,
    memoryAvailableBytes: 0,
    load: [0, 0, 0],
    disks: [],
  };

  constructor(
    registry: Registry,
    paths: string[],
    private readonly intervalMs: number,
    private readonly timers: Timers = systemTimers,
  ) {
    const g = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers: [registry] });
    this.cpu = g("system_cpu_usage_ratio", "Share of all CPU cores busy over the last sample interval (0-1)");
    this.mem = g(
      "system_memory_usage_ratio",
      "Share of memory in use, counting reclaimable cache as free (0-1)",
    );
    this.memTotal = g("system_memory_total_bytes", "Memory installed, in bytes");
    this.memAvail = g("system_memory_available_bytes", "Memory available to new work, in bytes");
    this.disk = g("system_disk_usage_ratio", "Share of the volume in use (0-1)", ["mountpoint"]);
    this.diskFree = g("system_disk_free_bytes", "Bytes free on the volume for unprivileged users", [
      "mountpoint",
    ]);
    this.diskSize = g("system_disk_size_bytes", "Size of the volume, in bytes", ["mountpoint"]);
    this.load = g("system_load_average", "System load average over the window", ["window"]);
    // One statfs per distinct volume, whatever the number of paths on it.
    this.mounts = new Map();
    for (const p of paths) {
      const m = mountPointOf(p);
      if (!this.mounts.has(m)) this.mounts.set(m, p);
    }
  }

  /** Take one sample now. */
  async sample(): Promise<SystemSnapshot> {
    const now = cpuTimes();
    const dTotal = now.total - this.last.total;
    const dIdle = now.idle - this.last.idle;
    this.last = now;
    const cpu = dTotal > 0 ? Math.min(1, Math.max(0, 1 - dIdle / dTotal)) : 0;
    const m = memory();
    const memRatio = m.total > 0 ? (m.total - m.available) / m.total : 0;
    const load = loadavg() as [number, number, number];
    const disks: SystemSnapshot["disks"] = [];
    for (const [mountpoint, path] of this.mounts) {
      try {
        const s = await statfsNearest(path);
        const bsize = Number(s.bsize);
        const size = Number(s.blocks) * bsize;
        const free = Number(s.bavail) * bsize;
        const used = (Number(s.blocks) - Number(s.bfree)) * bsize;
        // As df reckons it: used / (used + available to users).
        const ratio = used + free > 0 ? used / (used + free) : 0;
        disks.push({ mountpoint, usageRatio: ratio, freeBytes: free, sizeBytes: size });
        this.disk.set({ mountpoint }, ratio);
        this.diskFree.set({ mountpoint }, free);
        this.diskSize.set({ mountpoint }, size);
      } catch {
        // A volume that vanished keeps its last value out of the summary; health checks report it.
      }
    }
    this.cpu.set(cpu);
    this.mem.set(memRatio);
    this.memTotal.set(m.total);
    this.memAvail.set(m.available);
    this.load.set({ window: "1m" }, load[0]);
    this.load.set({ window: "5m" }, load[1]);
    this.load.set({ window: "15m" }, load[2]);
    this.snapshot = {
      cpuUsageRatio: cpu,
      memoryUsageRatio: memRatio,
      memoryTotalBytes: m.total,
      memoryAvailableBytes: m.available,
      load,
      disks,
    };
    return this.snapshot;
  }

  /** Sample now and then every interval; the timer never keeps the process alive. */
  async start(): Promise<void> {
    await this.sample();
    this.timer = this.timers
      .setInterval(() => {
        // A failed sample (an unreadable /proc file or disk) keeps the last snapshot and gauges.
        this.sample().catch(() => undefined);
      }, this.intervalMs)
      .unref();
  }

  stop(): void {
    if (this.timer) this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }
}
