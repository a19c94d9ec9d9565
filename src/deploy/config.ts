// A deployment's configuration: the seed's fields (`deploymentId`, `version`, `environment`,
// `healthCheckUrl`, `rollbackUrl`, `autoRollbackEnabled`, `maxErrorRatePercent`,
// `monitoringDurationMinutes`) and safe defaults for the rest. The HTTP API and the CLI accept
// the seed's snake_case names as its example writes them (`health_check_url`), so both spellings
// are read; the same field under both names, or any unknown field, is refused naming it.

import { z } from "zod";
import { parseInput } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import type { AnalysisSettings } from "./types.js";

const httpUrl = (what: string) =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
    } catch {
      // Not a URL at all: the refinement's message says what is expected.
      return false;
    }
  }, `${what} must be an absolute http:// or https:// URL`);

/** The TUG API's availability objective in monitoring/slos.yml (test/deploy/slo-burn.test.ts holds them equal). */
export const DEFAULT_SLO_OBJECTIVE = 0.999;

/** Label matchers added to every query of one version, e.g. `version="3.1.0"` or `job="tug-api"`. */
const selector = z
  .string()
  .max(1000)
  .regex(/^[^{}]*$/, 'write the matchers without braces, e.g. version="3.1.0", job="tug-api"');

export const deploymentConfigSchema = z.strictObject({
  deploymentId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/, "use letters, digits, '.', '_', ':' and '-'")
    .optional()
    .describe("The deployment's id (default: <version>-<environment>-<start time to the ms>)"),
  version: z.string().min(1).max(128).describe("The version being deployed"),
  environment: z.string().min(1).max(64).optional().describe("Default: the app's ENVIRONMENT"),
  healthCheckUrl: httpUrl("healthCheckUrl").describe("Polled every check interval"),
  rollbackUrl: httpUrl("rollbackUrl").optional().describe("POSTed a signed JSON request to roll back"),
  autoRollbackEnabled: z.boolean().default(false),
  maxErrorRatePercent: z.number().min(0).max(100).default(5),
  monitoringDurationMinutes: z
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(15),
  checkIntervalSeconds: z.number().min(1).max(3600).default(60),
  healthTimeoutSeconds: z.number().positive().max(300).default(5),
  /** Consecutive failed health checks tolerated; one more fails the deployment. */
  healthFailuresAllowed: z.number().int().min(0).max(1000).default(2),
  baselineWindowMinutes: z
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(30),
  /** Compare with a baseline instance serving at the same time, not with the window before. */
  baselineConcurrent: z.boolean().default(false),
  minRequests: z.number().int().min(1).max(1e9).optional(),
  maxP95IncreasePercent: z.number().positive().max(10_000).optional(),
  maxMeanIncreasePercent: z.number().positive().max(10_000).optional(),
  alpha: z.number().positive().max(0.5).optional(),
  consecutiveFailures: z.number().int().min(1).max(100).optional(),
  /** Fail when the new version burns the availability SLO's error budget faster than this (×). */
  maxBurnRate: z.number().positive().max(100_000).optional(),
  /** The availability objective maxBurnRate is measured against (default DEFAULT_SLO_OBJECTIVE). */
  sloObjective: z
    .number()
    .gt(0, "must be a ratio in (0, 1), e.g. 0.999 for 99.9 %")
    .lt(1, "must be a ratio in (0, 1), e.g. 0.999 for 99.9 %")
    .optional(),
  /** Prometheus's /api/v1/query of the new version's metrics (default: the health URL's app). */
  metricsUrl: httpUrl("metricsUrl").optional(),
  /** A Prometheus server's base URL: its /api/v1/query serves both versions' metrics. */
  prometheusUrl: httpUrl("prometheusUrl").optional(),
  /** /api/v1/query of the baseline's metrics (default: the same as the new version's). */
  baselineMetricsUrl: httpUrl("baselineMetricsUrl").optional(),
  /** Bearer token for the query APIs (default: this app's MONITORING_TOKEN). Never shown. */
  metricsToken: z.string().min(1).max(4096).optional(),
  selector: selector.optional(),
  baselineSelector: selector.optional(),
  /** What "too little data" does at the end: fail (fail-safe), pass, or hold as `inconclusive`. */
  onInconclusive: z.enum(["fail", "pass", "hold"]).default("fail"),
  /** How long a failing rollback request is retried (with backoff) before `rollback_failed`. */
  rollbackRetryMinutes: z
    .number()
    .positive()
    .max(24 * 60)
    .default(10),
});

export type DeploymentConfigInput = z.input<typeof deploymentConfigSchema>;
export type ParsedDeploymentConfig = z.output<typeof deploymentConfigSchema>;

/** A deployment's configuration with every default filled in. */
export interface DeploymentConfig extends ParsedDeploymentConfig {
  deploymentId: string;
  environment: string;
}

const snakeToCamel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * The seed's snake_case names read as camelCase. Both spellings of one field is an error naming
 * both; a key neither spelling knows stays as written, for the schema to refuse by name.
 */
export function normaliseKeys(input: unknown): unknown {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return input;
  const out: Record<string, unknown> = {};
  const from = new Map<string, string>();
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const camel = key.includes("_") ? snakeToCamel(key) : key;
    const known = camel in deploymentConfigSchema.shape;
    const name = known ? camel : key;
    const earlier = from.get(name);
    if (earlier !== undefined)
      throw new TugError("VALIDATION_FAILED", `Invalid body: ${earlier} and ${key} are the same field`, [
        { field: key, message: `is the same field as ${earlier}; give one` },
      ]);
    from.set(name, key);
    out[name] = value;
  }
  return out;
}

/**
 * Parses a deployment's configuration (camelCase or snake_case) and fills the defaults; a
 * TugError VALIDATION_FAILED (400 over HTTP, exit 2 in the CLI) names each wrong field.
 */
export function parseDeploymentConfig(
  input: unknown,
  defaults: { environment: string; now: number },
): DeploymentConfig {
  const c = parseInput(deploymentConfigSchema, normaliseKeys(input));
  if (c.metricsUrl && c.prometheusUrl)
    throw new TugError("VALIDATION_FAILED", "Invalid body: give metricsUrl or prometheusUrl, not both", [
      { field: "prometheusUrl", message: "conflicts with metricsUrl" },
    ]);
  if (c.autoRollbackEnabled && !c.rollbackUrl)
    throw new TugError("VALIDATION_FAILED", "Invalid body: autoRollbackEnabled needs a rollbackUrl", [
      { field: "rollbackUrl", message: "is required when autoRollbackEnabled is true" },
    ]);
  if (c.checkIntervalSeconds > c.monitoringDurationMinutes * 60)
    throw new TugError(
      "VALIDATION_FAILED",
      "Invalid body: the check interval is longer than the monitoring",
      [{ field: "checkIntervalSeconds", message: "must not exceed monitoringDurationMinutes × 60" }],
    );
  const environment = c.environment ?? defaults.environment;
  const stamp = new Date(defaults.now).toISOString().replace(/[-:]/g, "");
  return { ...c, environment, deploymentId: c.deploymentId ?? `${c.version}-${environment}-${stamp}` };
}

/** Where each version's metrics are queried: Prometheus's /api/v1/query URLs. */
export function queryUrls(c: DeploymentConfig): { canary: string; baseline: string } {
  const canary = c.metricsUrl
    ? c.metricsUrl
    : c.prometheusUrl
      ? new URL("api/v1/query", c.prometheusUrl.endsWith("/") ? c.prometheusUrl : `${c.prometheusUrl}/`).href
      : new URL("/monitoring/api/v1/query", c.healthCheckUrl).href;
  return { canary, baseline: c.baselineMetricsUrl ?? canary };
}

/** The analysis settings of a deployment: its own where given, the defaults elsewhere. */
export function analysisSettings(c: DeploymentConfig, defaults: AnalysisSettings): AnalysisSettings {
  const own = {
    maxErrorRatePercent: c.maxErrorRatePercent,
    minRequests: c.minRequests,
    maxP95IncreasePercent: c.maxP95IncreasePercent,
    maxMeanIncreasePercent: c.maxMeanIncreasePercent,
    alpha: c.alpha,
    consecutiveFailures: c.consecutiveFailures,
    maxBurnRate: c.maxBurnRate,
    sloObjective: c.maxBurnRate === undefined ? undefined : (c.sloObjective ?? DEFAULT_SLO_OBJECTIVE),
  };
  return { ...defaults, ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)) };
}

/** The configuration as shown (API, history, logs): the token replaced. */
export function publicConfig(c: DeploymentConfig): Record<string, unknown> {
  const { metricsToken, ...rest } = c;
  return metricsToken ? { ...rest, metricsToken: "<redacted>" } : rest;
}
