import type { Counter } from "prom-client";

/** The label value every label takes in the overflow series of a metric. */
export const OVERFLOW_LABEL_VALUE = "__overflow__";

export interface GuardLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Cardinality guard for one metric: caches the prom-client child of each label set (so the
 * hot path is one Map lookup) and, once `max` label sets exist, folds every further label set
 * into a single overflow series whose labels all read `__overflow__`. prom-client has no
 * such limit of its own, hence this wrapper.
 */
export class GuardedChildren<T> {
  private readonly children = new Map<string, T>();
  private overflowChild: T | undefined;
  private warned = false;

  constructor(
    readonly metricName: string,
    private readonly labelNames: readonly string[],
    private readonly max: number,
    private readonly make: (labels: Record<string, string>) => T,
    private readonly overflowCounter: Counter<"metric">,
    private readonly logger: GuardLogger | undefined,
  ) {}

  /** The child for `key`; `labels` builds the label object only when the child is new. */
  get(key: string, labels: () => Record<string, string>): T {
    const child = this.children.get(key);
    if (child !== undefined) return child;
    if (this.children.size < this.max) {
      const made = this.make(labels());
      this.children.set(key, made);
      return made;
    }
    return this.overflow(labels);
  }

  /** Number of distinct label sets held (the overflow series excluded). */
  get size(): number {
    return this.children.size;
  }

  private overflow(labels: () => Record<string, string>): T {
    this.overflowCounter.inc({ metric: this.metricName });
    if (!this.warned) {
      this.warned = true;
      this.logger?.warn(
        { metric: this.metricName, maxSeries: this.max, labelNames: this.labelNames, firstFolded: labels() },
        "metric reached its series limit; further label sets fold into the overflow series",
      );
    }
    if (this.overflowChild === undefined) {
      const folded: Record<string, string> = {};
      for (const name of this.labelNames) folded[name] = OVERFLOW_LABEL_VALUE;
      this.overflowChild = this.make(folded);
    }
    return this.overflowChild;
  }
}

/** Key of a label set in a fixed label order; \u0001 cannot appear in sane label values. */
export function labelKey(labelNames: readonly string[], labels: Record<string, string | number>): string {
  let key = "";
  for (const name of labelNames) key += `${labels[name] ?? ""}\u0001`;
  return key;
}
