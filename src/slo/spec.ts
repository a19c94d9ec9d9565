// The SLO file (monitoring/slos.yml): services, their objectives on availability and latency,
// over a rolling window. Parsed with positions (`yaml`), validated with zod, every error one line
// `FILE:LINE:COL: reason` naming what was wrong. docs/slo.md is the reference.

import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { z } from "zod";
import { configSchema } from "../core/config/index.js";
import { FileLineError } from "../core/file-error.js";
import { PromQLParseError, parseDuration, parseExpr } from "../promql/index.js";

/** The SRE workbook's burn windows, shortest first: every one gets a recorded error ratio. */
export const BURN_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] as const;
export type BurnWindow = (typeof BURN_WINDOWS)[number];
/** The longest burn window: an SLO window must be at least this long. */
export const LONGEST_BURN_WINDOW_MS = 3 * 86_400_000;

/** What an SLI may be built from: the metric contract's names (docs/architecture.md). */
export const KNOWN_METRICS = {
  availability: {
    http_requests_total: { labels: ["method", "route", "status_code"] },
  },
  latency: {
    http_request_duration_seconds: { labels: ["method", "route", "status_code"], buckets: "http" },
    db_query_duration_seconds: { labels: ["operation", "table"], buckets: "db" },
  },
} as const;

/** Labels a scrape adds (the stack's Prometheus): allowed in matchers besides the metric's own. */
const TARGET_LABELS = ["job", "instance"];

export interface AvailabilitySli {
  kind: "availability";
  metric: keyof typeof KNOWN_METRICS.availability;
}

export interface LatencySli {
  kind: "latency";
  metric: keyof typeof KNOWN_METRICS.latency;
  /** Seconds: a request at or under this is good. One of the histogram's bucket bounds. */
  threshold: number;
}

export interface Objective {
  /** The `slo` label of every generated series and alert. */
  name: string;
  description: string;
  /** The good share to reach, in (0, 1). */
  objective: number;
  /** The rolling window, as written (`30d`), and in ms. */
  window: string;
  windowMs: number;
  sli: AvailabilitySli | LatencySli;
}

export interface Service {
  /** The `service` label (as monitoring/alert_rules.yml sets it). */
  name: string;
  /** PromQL label matchers added to every selector of its SLIs, e.g. `route=~"/api/.+"`. */
  matchers: string;
  runbook: string;
  objectives: Objective[];
}

export interface SloSpec {
  file: string;
  /** The rule groups' `interval` as written (`1m`); undefined: the global evaluation interval. */
  interval: string | undefined;
  services: Service[];
}

/** An invalid SLO file. `message` is one line: `FILE:LINE:COL: reason`. */
export class SloFileError extends FileLineError {
  constructor(file: string, line: number, column: number, reason: string) {
    super(file, line, column, reason);
    this.name = "SloFileError";
  }
}

const NAME_RE = /^[a-z][a-z0-9-]*$/;
const DEFAULT_RUNBOOK = "docs/slo.md#when-an-slo-alert-fires";

const duration = z.string().refine((s) => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false; // the refinement's message says what is wrong
  }
}, "must be a Prometheus duration such as 30d or 4w");

const objectiveBase = {
  name: z.string().regex(NAME_RE, "must be lower case letters, digits and dashes, starting with a letter"),
  description: z.string().optional(),
  objective: z
    .number()
    .gt(0, "must be a ratio in (0, 1), e.g. 0.999 for 99.9 %")
    .lt(1, "must be a ratio in (0, 1), e.g. 0.999 for 99.9 %"),
  window: duration.optional(),
};

const metricOf = (kind: "availability" | "latency") => {
  const names = Object.keys(KNOWN_METRICS[kind]) as [string, ...string[]];
  return z
    .string()
    .refine((m) => names.includes(m), `unknown metric for the ${kind} SLI; known: ${names.join(", ")}`);
};

const objectiveSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({
      ...objectiveBase,
      kind: z.literal("availability"),
      metric: metricOf("availability").default("http_requests_total"),
    }),
    z.strictObject({
      ...objectiveBase,
      kind: z.literal("latency"),
      metric: metricOf("latency").default("http_request_duration_seconds"),
      threshold: z.number().positive().finite(),
    }),
  ],
  { error: "`kind` must be availability or latency" },
);

const fileSchema = z.strictObject({
  window: duration.default("30d"),
  interval: duration.optional(),
  services: z
    .array(
      z.strictObject({
        name: z
          .string()
          .regex(NAME_RE, "must be lower case letters, digits and dashes, starting with a letter"),
        matchers: z.string().default(""),
        runbook: z.string().min(1).default(DEFAULT_RUNBOOK),
        objectives: z.array(objectiveSchema).min(1, "a service needs at least one objective"),
      }),
    )
    .min(1, "the file needs at least one service"),
});

type Located = (path: readonly PropertyKey[], reason: string) => SloFileError;

/** Reads and validates an SLO file; throws SloFileError. */
export function loadSloFile(file: string, buckets?: BucketTable): SloSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new SloFileError(file, 0, 0, `cannot read the SLO file: ${(e as Error).message}`);
  }
  return parseSloFile(text, file, buckets);
}

/** Bucket bounds of each histogram (`metrics.httpDurationBuckets`, `metrics.dbDurationBuckets`). */
export interface BucketTable {
  http: readonly number[];
  db: readonly number[];
}

export function defaultBuckets(): BucketTable {
  const m = configSchema.parse({}).metrics;
  return { http: m.httpDurationBuckets, db: m.dbDurationBuckets };
}

/** Parses and validates an SLO file's text; throws SloFileError. */
export function parseSloFile(text: string, file = "<input>", buckets = defaultBuckets()): SloSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = lc.linePos(first.pos[0]);
    throw new SloFileError(file, pos.line, pos.col, `invalid YAML: ${first.message.split("\n")[0]}`);
  }
  const locate: Located = (path, reason) => {
    const pos = lc.linePos(nodeAt(doc.contents as Node | null, path)?.range?.[0] ?? 0);
    const where = path.length > 0 ? `${path.join(".")}: ` : "";
    return new SloFileError(file, pos.line, pos.col, `${where}${reason}`);
  };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // an alias without its anchor, or an alias bomb: yaml refuses them only when building values
    throw locate([], `invalid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const parsed = fileSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    throw locate(issue.path, issue.message);
  }
  return build(parsed.data, file, buckets, locate);
}

function build(
  raw: z.infer<typeof fileSchema>,
  file: string,
  buckets: BucketTable,
  locate: Located,
): SloSpec {
  if (raw.interval !== undefined && parseDuration(raw.interval) > 300_000)
    throw locate(
      ["interval"],
      `interval ${raw.interval} is longer than 5m: the long windows sum the 5m recordings, which must cover every moment`,
    );
  const services: Service[] = [];
  const serviceNames = new Set<string>();
  raw.services.forEach((s, i) => {
    if (serviceNames.has(s.name)) throw locate(["services", i, "name"], `service "${s.name}" is repeated`);
    serviceNames.add(s.name);
    const names = new Set<string>();
    const objectives = s.objectives.map((o, j): Objective => {
      const at = (key?: string) => ["services", i, "objectives", j, ...(key ? [key] : [])];
      if (names.has(o.name))
        throw locate(at("name"), `objective "${o.name}" is repeated in service ${s.name}`);
      names.add(o.name);
      const window = o.window ?? raw.window;
      const windowMs = parseDuration(window);
      if (windowMs < LONGEST_BURN_WINDOW_MS)
        throw locate(
          o.window ? at("window") : ["window"],
          `window ${window} is shorter than the longest burn window (3d): the ticket alert's 3d ratio would look past it`,
        );
      checkMatchers(s.matchers, o.metric, locate, ["services", i, "matchers"]);
      let sli: AvailabilitySli | LatencySli;
      if (o.kind === "availability")
        sli = { kind: "availability", metric: o.metric as AvailabilitySli["metric"] };
      else {
        const metric = o.metric as LatencySli["metric"];
        const bounds = buckets[KNOWN_METRICS.latency[metric].buckets];
        if (!bounds.includes(o.threshold))
          throw locate(
            at("threshold"),
            `${o.threshold} is not a bucket bound of ${metric} (${bounds.join(", ")}): the good share is read from the bucket le="${o.threshold}"`,
          );
        sli = { kind: "latency", metric, threshold: o.threshold };
      }
      return {
        name: o.name,
        description: o.description ?? defaultDescription(o.objective, sli),
        objective: o.objective,
        window,
        windowMs,
        sli,
      };
    });
    services.push({ name: s.name, matchers: s.matchers.trim(), runbook: s.runbook, objectives });
  });
  return { file, interval: raw.interval, services };
}

function defaultDescription(objective: number, sli: AvailabilitySli | LatencySli): string {
  const pct = `${Number((objective * 100).toPrecision(10))} %`;
  return sli.kind === "availability"
    ? `${pct} of requests answer without a server error (no 5xx)`
    : `${pct} of requests answer within ${sli.threshold} s`;
}

/** The matchers must parse as PromQL label matchers, on labels the metric has. */
function checkMatchers(matchers: string, metric: string, locate: Located, path: PropertyKey[]): void {
  if (matchers.trim() === "") return;
  let parsed: ReturnType<typeof parseExpr>;
  try {
    parsed = parseExpr(`${metric}{${matchers}}`);
  } catch (e) {
    if (e instanceof PromQLParseError) throw locate(path, `not PromQL label matchers: ${e.message}`);
    throw e;
  }
  const known = new Set<string>(TARGET_LABELS);
  const own: Record<string, { labels: readonly string[] }> = {
    ...KNOWN_METRICS.availability,
    ...KNOWN_METRICS.latency,
  };
  for (const l of own[metric]?.labels ?? []) known.add(l);
  if (parsed.type !== "VectorSelector")
    throw locate(path, 'must be label matchers only, e.g. route=~"/api/.+"');
  // the parser appends `__name__="<metric>"` itself: the user's own matchers come before it
  for (const m of parsed.matchers.slice(0, -1)) {
    if (m.name === "__name__") throw locate(path, "must not match the metric name");
    if (m.name === "le") throw locate(path, "must not match `le`: the latency threshold chooses the bucket");
    if (!known.has(m.name))
      throw locate(path, `${metric} has no label ${m.name} (it has ${[...known].join(", ")})`);
  }
}

/** The YAML node at a zod issue's path (the nearest existing ancestor). */
function nodeAt(root: Node | null, path: readonly PropertyKey[]): Node | null {
  let node: Node | null = root;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return node;
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) return node;
      node = item;
    } else return node;
  }
  return node;
}
