import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { TugError } from "../core/errors.js";
import { GuardedChildren, type GuardLogger, labelKey } from "./guard.js";

/**
 * A custom metric call's label values by label name (prom-client's LabelValues); not the tsdb's
 * Labels, which are a series' sorted name/value pairs.
 */
export type MetricLabelValues = Record<string, string | number>;
export type MetricKind = "counter" | "gauge" | "histogram";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Entry {
  kind: MetricKind;
  labelNames: string[];
  children: GuardedChildren<{ inc?(v: number): void; set?(v: number): void; observe?(v: number): void }>;
}

export interface DefineOptions {
  help?: string;
  labelNames?: string[];
  buckets?: number[];
}

function kindOf(metric: unknown): MetricKind | "other" {
  if (metric instanceof Counter) return "counter";
  if (metric instanceof Gauge) return "gauge";
  if (metric instanceof Histogram) return "histogram";
  const type = (metric as { type?: string }).type;
  return type === "counter" || type === "gauge" || type === "histogram" ? type : "other";
}

/**
 * Custom application metrics, created on first use. A name keeps the type and label names
 * of its first use; using it otherwise throws a TugError that says what clashed, since that
 * is a programming error best caught in development.
 */
export class MetricsCollector {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly registry: Registry,
    private readonly maxSeries: number,
    private readonly overflow: Counter<"metric">,
    private readonly logger?: GuardLogger,
  ) {}

  /** Declare a metric ahead of use, with help text and (for histograms) buckets. */
  define(name: string, kind: MetricKind, opts: DefineOptions = {}): void {
    this.entry(name, kind, [...(opts.labelNames ?? [])].sort(), opts);
  }

  incrementCounter(name: string, labels: MetricLabelValues = {}, value = 1): void {
    if (!Number.isFinite(value) || value < 0) {
      throw new TugError(
        "METRIC_VALUE_INVALID",
        `counter ${name} can only increase: got ${value}, expected a finite number >= 0`,
      );
    }
    this.child(name, "counter", labels).inc?.(value);
  }

  setGauge(name: string, value: number, labels: MetricLabelValues = {}): void {
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw new TugError("METRIC_VALUE_INVALID", `gauge ${name}: got ${String(value)}, expected a number`);
    }
    this.child(name, "gauge", labels).set?.(value);
  }

  observeHistogram(name: string, value: number, labels: MetricLabelValues = {}): void {
    if (!Number.isFinite(value)) {
      throw new TugError("METRIC_VALUE_INVALID", `histogram ${name}: got ${value}, expected a finite number`);
    }
    this.child(name, "histogram", labels).observe?.(value);
  }

  private child(name: string, kind: MetricKind, labels: MetricLabelValues) {
    const names = Object.keys(labels).sort();
    const entry = this.entry(name, kind, names, {});
    const values: Record<string, string> = {};
    for (const n of entry.labelNames) values[n] = String(labels[n]);
    return entry.children.get(labelKey(entry.labelNames, values), () => values);
  }

  private entry(name: string, kind: MetricKind, labelNames: string[], opts: DefineOptions): Entry {
    const existing = this.entries.get(name);
    if (existing) {
      this.check(name, existing.kind, existing.labelNames, kind, labelNames);
      return existing;
    }
    if (!NAME.test(name)) {
      throw new TugError(
        "METRIC_NAME_INVALID",
        `metric name "${name}" is invalid: expected letters, digits, _ and :, not starting with a digit`,
      );
    }
    for (const l of labelNames) {
      if (!LABEL.test(l) || l.startsWith("__") || (kind === "histogram" && l === "le")) {
        throw new TugError(
          "METRIC_NAME_INVALID",
          `label name "${l}" of metric ${name} is invalid: expected letters, digits and _, not starting with a digit or __${kind === "histogram" ? ', and not "le"' : ""}`,
        );
      }
    }
    const registered = this.registry.getSingleMetric(name);
    if (registered) {
      // A metric the application registered elsewhere (e.g. http_requests_total): same rules.
      const k = kindOf(registered);
      const ln = [...((registered as unknown as { labelNames?: string[] }).labelNames ?? [])].sort();
      this.check(name, k, ln, kind, labelNames);
    }
    const help = opts.help ?? `Custom ${kind} ${name}`;
    const metric =
      registered ??
      (kind === "counter"
        ? new Counter({ name, help, labelNames, registers: [this.registry] })
        : kind === "gauge"
          ? new Gauge({ name, help, labelNames, registers: [this.registry] })
          : new Histogram({
              name,
              help,
              labelNames,
              registers: [this.registry],
              ...(opts.buckets ? { buckets: opts.buckets } : {}),
            }));
    const children = new GuardedChildren(
      name,
      labelNames,
      this.maxSeries,
      (labels) => (labelNames.length === 0 ? metric : (metric as Counter).labels(labels)) as never,
      this.overflow,
      this.logger,
    );
    const entry: Entry = { kind, labelNames, children };
    this.entries.set(name, entry);
    return entry;
  }

  private check(
    name: string,
    hadKind: string,
    hadLabels: string[],
    kind: MetricKind,
    labels: string[],
  ): void {
    if (hadKind !== kind) {
      throw new TugError(
        "METRIC_TYPE_CONFLICT",
        `metric ${name} is a ${hadKind}; it cannot also be used as a ${kind}`,
      );
    }
    if (hadLabels.join(",") !== labels.join(",")) {
      throw new TugError(
        "METRIC_LABELS_CONFLICT",
        `metric ${name} has labels {${hadLabels.join(", ")}}; got {${labels.join(", ")}}: use the same label names on every call`,
      );
    }
  }
}
