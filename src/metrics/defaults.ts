import { createMetrics, type Metrics } from "./index.js";

/**
 * The seed's convenience objects, `metricsCollector` and `userActivityMonitor`: thin
 * defaults that forward to one bound Metrics instance. Until a server binds its own
 * (`bindDefaultMetrics`), they write to a private standalone registry, so calling them from
 * a script or a test never throws and never collides with another registry.
 */
let bound: Metrics | undefined;

function current(): Metrics {
  if (!bound) {
    bound = createMetrics({
      maxSeriesPerMetric: 2000,
      httpDurationBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      dbDurationBuckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      defaultMetrics: false,
      systemPaths: [],
      systemSampleIntervalMs: 5000,
    });
  }
  return bound;
}

/** Point the default objects at `metrics` (the server does this at start); returns the previous one. */
export function bindDefaultMetrics(metrics: Metrics | undefined): Metrics | undefined {
  const prev = bound;
  bound = metrics;
  return prev;
}

/** The Metrics instance the defaults currently write to. */
export function defaultMetrics(): Metrics {
  return current();
}

export const metricsCollector = {
  incrementCounter: (name: string, labels?: Record<string, string | number>, value?: number) =>
    current().custom.incrementCounter(name, labels, value),
  setGauge: (name: string, value: number, labels?: Record<string, string | number>) =>
    current().custom.setGauge(name, value, labels),
  observeHistogram: (name: string, value: number, labels?: Record<string, string | number>) =>
    current().custom.observeHistogram(name, value, labels),
};

export const userActivityMonitor = {
  trackUserRegistration: (userId: string, method?: string) =>
    current().users.trackUserRegistration(userId, method),
  trackUserLogin: (userId: string | null, outcome?: string) =>
    current().users.trackUserLogin(userId, outcome),
  trackFeatureUsage: (userId: string | null, feature: string) =>
    current().users.trackFeatureUsage(userId, feature),
};
