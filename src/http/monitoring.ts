import type { FastifyInstance } from "fastify";
import {
  type Metrics,
  type MetricsSummary,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderOpenMetrics,
  wantsOpenMetrics,
} from "../metrics/index.js";
import { monitoringAuth } from "./auth.js";

export interface MonitoringRoutesOptions {
  metrics: Metrics;
  summary: MetricsSummary;
  token: string | undefined;
  /** Whether start-up has finished and shutdown has not begun. */
  isReady: () => boolean;
}

/** Probes stay open whatever the token: Kubernetes cannot send one. */
export const OPEN_MONITORING_ROUTES = new Set(["/monitoring/health/live", "/monitoring/health/ready"]);

/** /monitoring/* routes of this issue: the scrape endpoint and its readable JSON summary. */
export async function monitoringRoutes(app: FastifyInstance, opts: MonitoringRoutesOptions): Promise<void> {
  const { registry } = opts.metrics;
  app.addHook("onRequest", monitoringAuth(opts.token, OPEN_MONITORING_ROUTES));

  // Minimal probes; the health issue replaces them with the full check runner.
  app.get("/monitoring/health/live", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    return { status: "pass" };
  });
  app.get("/monitoring/health/ready", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    if (!opts.isReady()) return reply.code(503).send({ status: "fail", output: "starting or shutting down" });
    return { status: "pass" };
  });

  app.get("/monitoring/metrics", async (req, reply) => {
    reply.header("cache-control", "no-store");
    if (wantsOpenMetrics(req.headers.accept)) {
      reply.type(OPENMETRICS_CONTENT_TYPE);
      return renderOpenMetrics(registry);
    }
    reply.type(PROMETHEUS_CONTENT_TYPE);
    return registry.metrics();
  });

  app.get("/monitoring/metrics/json", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    return opts.summary.build();
  });
}
