// Error tracking: error lines grouped by what went wrong and where — the message's template,
// the error's type and its top stack frame — so "3,000 errors" reads as "two problems, since
// 14:02, on these routes". A group is `new` when first seen within `newForMs`, `regressed` when
// it comes back after `regressAfterMs` of silence.

import { createHash } from "node:crypto";

export interface ErrorEvent {
  atMs: number;
  /** The message's template (numbers, ids... masked) and its id. */
  templateId: string;
  template: string;
  /** `err.type` / `err.name`, or "" for an error-level line without an error object. */
  errorType: string;
  /** The error's own message (not the log message), if any. */
  errorMessage?: string;
  stack?: string;
  route?: string;
  requestId?: string;
  /** The line as logged (already redacted by the logger). */
  line: string;
}

export interface ErrorGroup {
  id: string;
  template: string;
  errorType: string;
  topFrame: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  /** Occurrences per minute over the last five minutes. */
  ratePerMinute: number;
  status: "new" | "regressed" | "ongoing";
  /** When it regressed (came back after a silence), if it did. */
  regressedAt?: number;
  samples: string[];
  routes: Record<string, number>;
  requestIds: string[];
}

export interface ErrorTrackerOptions {
  maxGroups?: number;
  samplesPerGroup?: number;
  requestIdsPerGroup?: number;
  routesPerGroup?: number;
  newForMs?: number;
  regressAfterMs?: number;
}

interface GroupState extends Omit<ErrorGroup, "ratePerMinute" | "status"> {
  /** Occurrence counts of the last five minutes, by minute. */
  recent: Map<number, number>;
}

/**
 * The first stack frame that is not Node's own: `at fn (file:line:col)` reduced to `fn (file)`.
 * Line and column are left out so a deploy that moves code does not split a group.
 */
export function topFrame(stack: string | undefined): string {
  if (!stack) return "";
  for (const raw of stack.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("at ")) continue;
    if (line.includes("node:internal") || line.includes("(node:")) continue;
    const m = /^at (?:async )?(?:(.+?) \()?(.+?)(?::\d+)?(?::\d+)?\)?$/.exec(line);
    if (!m) return line.slice(3);
    const fn = m[1] ?? "<anonymous>";
    const file = (m[2] ?? "").replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "node_modules/");
    return `${fn} (${file.replace(/^.*\/(src|dist|lib)\//, "$1/")})`;
  }
  return "";
}

export class ErrorTracker {
  private readonly groups = new Map<string, GroupState>();
  /** Group key → id, and frames → top frame: the same error repeats; hashing it each time need not. */
  private readonly ids = new Map<string, string>();
  private readonly frames = new Map<string, string>();

  private frameOf(stack: string | undefined): string {
    if (!stack) return "";
    // The first line holds the message, which varies; the frames below it identify the site.
    const nl = stack.indexOf("\n");
    const key = nl < 0 ? stack : stack.slice(nl);
    let f = this.frames.get(key);
    if (f === undefined) {
      f = topFrame(stack);
      if (this.frames.size >= 1_000) this.frames.clear();
      this.frames.set(key, f);
    }
    return f;
  }
  private readonly opts: Required<ErrorTrackerOptions>;

  constructor(opts: ErrorTrackerOptions = {}) {
    this.opts = {
      maxGroups: opts.maxGroups ?? 1000,
      samplesPerGroup: opts.samplesPerGroup ?? 5,
      requestIdsPerGroup: opts.requestIdsPerGroup ?? 20,
      routesPerGroup: opts.routesPerGroup ?? 50,
      newForMs: opts.newForMs ?? 3_600_000,
      regressAfterMs: opts.regressAfterMs ?? 3_600_000,
    };
  }

  /** Records one error line; returns its group id. */
  record(e: ErrorEvent): string {
    const frame = this.frameOf(e.stack);
    const key = `${e.templateId}\u0000${e.errorType}\u0000${frame}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = createHash("sha1").update(key).digest("hex").slice(0, 16);
      if (this.ids.size >= 10_000) this.ids.clear();
      this.ids.set(key, id);
    }
    let g = this.groups.get(id);
    if (!g) {
      if (this.groups.size >= this.opts.maxGroups) this.evict();
      g = {
        id,
        template: e.template,
        errorType: e.errorType,
        topFrame: frame,
        firstSeen: e.atMs,
        lastSeen: e.atMs,
        count: 0,
        samples: [],
        routes: {},
        requestIds: [],
        recent: new Map(),
      };
      this.groups.set(id, g);
    } else if (e.atMs - g.lastSeen >= this.opts.regressAfterMs) {
      g.regressedAt = e.atMs;
    }
    g.count++;
    g.lastSeen = Math.max(g.lastSeen, e.atMs);
    const minute = Math.floor(e.atMs / 60_000);
    g.recent.set(minute, (g.recent.get(minute) ?? 0) + 1);
    for (const m of g.recent.keys()) if (m < minute - 5) g.recent.delete(m);
    g.samples.push(e.line);
    if (g.samples.length > this.opts.samplesPerGroup) g.samples.shift();
    if (e.requestId) {
      g.requestIds.push(e.requestId);
      if (g.requestIds.length > this.opts.requestIdsPerGroup) g.requestIds.shift();
    }
    if (e.route) this.addRoute(id, e.route);
    return id;
  }

  /** Attributes a route to a group after the fact (the access line follows the error line). */
  addRoute(groupId: string, route: string): void {
    const g = this.groups.get(groupId);
    if (!g) return;
    if (route in g.routes || Object.keys(g.routes).length < this.opts.routesPerGroup)
      g.routes[route] = (g.routes[route] ?? 0) + 1;
  }

  /** Groups, most recently seen first. */
  list(nowMs: number): ErrorGroup[] {
    const minute = Math.floor(nowMs / 60_000);
    return [...this.groups.values()]
      .sort((a, b) => b.lastSeen - a.lastSeen)
      .map((g) => {
        let recent = 0;
        for (const [m, n] of g.recent) if (m > minute - 5) recent += n;
        const { recent: _r, ...rest } = g;
        const status: ErrorGroup["status"] =
          nowMs - g.firstSeen < this.opts.newForMs
            ? "new"
            : g.regressedAt !== undefined && nowMs - g.regressedAt < this.opts.newForMs
              ? "regressed"
              : "ongoing";
        return {
          ...rest,
          samples: [...g.samples],
          requestIds: [...g.requestIds],
          routes: { ...g.routes },
          ratePerMinute: recent / 5,
          status,
        };
      });
  }

  get size(): number {
    return this.groups.size;
  }

  /** Drops the group seen least recently. */
  private evict(): void {
    let oldest: GroupState | undefined;
    for (const g of this.groups.values()) if (!oldest || g.lastSeen < oldest.lastSeen) oldest = g;
    if (oldest) this.groups.delete(oldest.id);
  }

  toJSON(): unknown {
    return [...this.groups.values()].map((g) => ({ ...g, recent: [...g.recent] }));
  }

  static fromJSON(data: unknown, opts?: ErrorTrackerOptions): ErrorTracker {
    const t = new ErrorTracker(opts);
    if (!Array.isArray(data)) return t;
    for (const raw of data as Array<GroupState & { recent: Array<[number, number]> }>) {
      if (typeof raw?.id !== "string") continue;
      t.groups.set(raw.id, { ...raw, recent: new Map(raw.recent ?? []) });
    }
    return t;
  }
}
