import { z } from "zod";

/**
 * The one configuration schema. Every setting lives here once, with its default and a line of
 * description; docs/configuration.md is generated from it (`npm run tug -- config docs`) and a
 * test keeps the two in sync. Unknown keys are rejected everywhere (strict objects).
 */

const DEFAULT_HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DEFAULT_DB_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const buckets = (def: number[]) =>
  z
    .array(z.number().positive().finite())
    .min(1)
    .refine((a) => a.every((v, i) => i === 0 || v > (a[i - 1] as number)), "must be strictly increasing")
    .default(def);

const ratio = (def: number, description: string) =>
  z.number().min(0).max(1).default(def).describe(description);

const thresholds = (warn: number, fail: number, what: string) =>
  z
    .strictObject({
      warn: ratio(warn, `${what} at or above which the check warns (0-1)`),
      fail: ratio(fail, `${what} at or above which the check fails (0-1)`),
    })
    .refine((t) => t.warn <= t.fail, "warn must not be above fail")
    .prefault({});

const durationMs = (def: number, description: string) =>
  z.number().int().min(1).max(86_400_000).default(def).describe(description);

/**
 * Fault injection: a testing aid that makes this instance a bad release on purpose (errors,
 * latency, a failing health check) so that deployment monitoring can be shown to catch one
 * (docs/fault-injection.md). Off by default; refused in production.
 */
const faultsSchema = z
  .strictObject({
    errorPercent: z
      .number()
      .min(0)
      .max(100)
      .default(0)
      .describe(
        "Testing aid: share of /api/* requests answered 500 on purpose, in percent (refused in production)",
      ),
    latencyMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(0)
      .describe("Testing aid: delay added to every /api/* response, in ms (refused in production)"),
    healthFail: z
      .boolean()
      .default(false)
      .describe('Testing aid: add a health check "fault_injection" that fails (refused in production)'),
  })
  .prefault({});

/** Any fault set with environment production is a configuration error naming it. */
function refuseFaultsInProduction(
  c: { environment: string; faults: z.output<typeof faultsSchema> },
  ctx: z.RefinementCtx,
): void {
  if (c.environment !== "production") return;
  const set = (["errorPercent", "latencyMs", "healthFail"] as const).filter(
    (k) => c.faults[k] !== (k === "healthFail" ? false : 0),
  );
  for (const key of set) {
    ctx.addIssue({
      code: "custom",
      path: ["faults", key],
      message: "fault injection is a testing aid and is refused when environment is production",
    });
  }
}

const settingsSchema = z.strictObject({
  service: z
    .strictObject({
      name: z.string().min(1).default("tug-api").describe("serviceId in health responses and logs"),
      releaseId: z
        .string()
        .min(1)
        .optional()
        .describe("releaseId in health responses (default: the package version)"),
    })
    .prefault({}),
  environment: z
    .enum(["development", "staging", "production"])
    .default("development")
    .describe("Where this instance runs; outside development the monitoring token is required"),
  server: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1").describe("Address the HTTP server binds to"),
      port: z.number().int().min(0).max(65535).default(8000).describe("TCP port of the HTTP server"),
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .default(1_048_576)
        .describe("Largest request body accepted, in bytes"),
      trustProxy: z.boolean().default(false).describe("Trust X-Forwarded-* headers from a reverse proxy"),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z
        .preprocess(
          // The seed documents LOG_LEVEL=INFO: level names are read in any case.
          (v) => (typeof v === "string" ? v.toLowerCase() : v),
          z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
        )
        .default("info")
        .describe("Lowest level written (any case: INFO is info)"),
      filePath: z
        .string()
        .min(1)
        .default("./logs/application.log")
        .describe("JSON log file (empty string is not allowed; the directory is created)"),
      stdout: z.boolean().default(true).describe("Also write JSON lines to standard output"),
      pretty: z
        .enum(["auto", "always", "never"])
        .default("auto")
        .describe(
          "Readable coloured lines on stdout instead of JSON: auto = when stdout is a terminal and the environment is development (the file is always JSON)",
        ),
      rotation: z
        .strictObject({
          maxSizeBytes: z
            .number()
            .int()
            .min(0)
            .default(50 * 1024 * 1024)
            .describe("Rotate the log file when it would grow past this (0: never by size)"),
          daily: z
            .boolean()
            .default(true)
            .describe("Also rotate at the first line after midnight (local time)"),
          maxFiles: z.number().int().min(1).default(14).describe("Rotated files kept; the oldest go first"),
          maxAgeDays: z
            .number()
            .min(0)
            .default(14)
            .describe("Rotated files older than this are deleted (0: no age limit)"),
          compress: z.boolean().default(true).describe("gzip rotated files"),
        })
        .prefault({}),
      access: z
        .strictObject({
          enabled: z.boolean().default(true).describe("One access line per request"),
          sampleRates: z
            .record(z.string(), z.number().min(0).max(1))
            .default({ "/monitoring/health/live": 0, "/monitoring/health/ready": 0 })
            .describe(
              'Share of successful (status < 400) requests logged, by route template, e.g. {"/api/v1/users/me": 0.1}; successful probes are not logged by default; warnings and errors always are',
            ),
        })
        .prefault({}),
      analysis: z
        .strictObject({
          enabled: z
            .boolean()
            .default(true)
            .describe(
              "In-process analysis of the app's own log lines: templates, error groups, anomalies, trends",
            ),
          stateFile: z
            .string()
            .min(1)
            .optional()
            .describe(
              "JSON snapshot of templates, error groups, trends and detectors, saved every minute (default: log-analysis.json beside a SQLite database, else ./data/log-analysis.json)",
            ),
          maxTemplates: z
            .number()
            .int()
            .min(100)
            .default(10_000)
            .describe("Distinct message shapes kept by the template miner (least recently used evicted)"),
        })
        .prefault({}),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z
        .string()
        .refine((v) => !/^mongodb(\+srv)?:/i.test(v), {
          // The seed's API ran on MongoDB; this one keeps its data in SQLite or PostgreSQL (README).
          message:
            "MongoDB is not supported: the TUG API keeps its data in SQLite (the default, sqlite:./data/tug.db) or PostgreSQL (postgres://user:password@host:port/database); see the README's Database section",
          abort: true,
        })
        .regex(
          /^(sqlite:.+|postgres(ql)?:\/\/.+)$/,
          "expected sqlite:<file path> (or sqlite::memory:) or postgres://user:password@host:port/database",
        )
        .default("sqlite:./data/tug.db")
        .describe("sqlite:<path> for an embedded SQLite file, or a postgres:// URL"),
      poolSize: z.number().int().min(1).max(200).default(10).describe("PostgreSQL connection pool size"),
      connectTimeoutMs: durationMs(5000, "PostgreSQL connection timeout"),
      statementTimeoutMs: durationMs(10_000, "PostgreSQL statement timeout"),
      slowQueryThresholdMs: z
        .number()
        .min(0)
        .default(100)
        .describe("Queries slower than this are logged as slow queries"),
    })
    .prefault({}),
  redis: z
    .strictObject({
      url: z
        .string()
        .regex(/^rediss?:\/\/.+/, "expected redis://[user:password@]host:port[/db]")
        .optional()
        .describe("Redis for sessions; unset keeps sessions in the database"),
      keyPrefix: z.string().default("tug:").describe("Prefix of every Redis key"),
      commandTimeoutMs: durationMs(2000, "Redis command timeout"),
    })
    .prefault({}),
  monitoring: z
    .strictObject({
      debugInfo: z
        .boolean()
        .optional()
        .describe("Serve /monitoring/debug/info (default: on, except in production)"),
      token: z
        .string()
        .min(16, "must be at least 16 characters")
        .optional()
        .describe("Bearer token for /monitoring/* (probes excepted); required outside development"),
      grafanaAdminPassword: z
        .string()
        .optional()
        .describe(
          "The stack's Grafana admin password (a secret), read only to warn at start in production when it is the development default admin123",
        ),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe(
          "Run the embedded notifier (routing, grouping, silences, outbox) on the rule engine's alerts",
        ),
      alertmanagerConfig: z
        .string()
        .min(1)
        .default("monitoring/alertmanager.yml")
        .describe(
          "Alertmanager configuration file: routes, receivers, inhibition (the file a real Alertmanager reads)",
        ),
      stateFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          "SQLite file of the outbox, notification log, silences and alert history (default: notifier.db beside a SQLite database, else ./data/notifier.db)",
        ),
      externalUrl: z
        .url()
        .optional()
        .describe("Base URL of links in notifications (default: http://HOST:PORT/monitoring)"),
      channelTimeoutMs: durationMs(10_000, "Time limit of one delivery attempt to one channel"),
      rateLimitPerMinute: z
        .number()
        .int()
        .min(0)
        .default(10)
        .describe("Messages per minute to each receiver integration; waiting ones coalesce (0: no limit)"),
      retry: z
        .strictObject({
          initialBackoffMs: durationMs(
            1_000,
            "First retry delay of a failed delivery (doubles, with jitter)",
          ),
          maxBackoffMs: durationMs(300_000, "Longest delay between delivery retries"),
          expiryMs: durationMs(
            86_400_000,
            "A notification not delivered after this long is given up (and counted)",
          ),
        })
        .prefault({}),
      webhookSigningSecret: z
        .string()
        .min(16, "must be at least 16 characters")
        .optional()
        .describe("HMAC-SHA256 key: webhooks carry X-TUG-Signature when set (a secret)"),
      forwardTo: z
        .array(z.url())
        .default([])
        .describe("Alertmanager URLs that also receive every alert (POST /api/v2/alerts)"),
      slackWebhookUrl: z.url().optional().describe("Slack incoming-webhook URL (a secret)"),
      limits: z
        .strictObject({
          maxAlertsPerRequest: z
            .number()
            .int()
            .min(1)
            .default(1000)
            .describe("Alerts one POST /monitoring/api/v2/alerts may carry; more is refused with 400"),
          maxAlerts: z
            .number()
            .int()
            .min(100)
            .default(10_000)
            .describe(
              "Distinct alerts held at once (firing or resolved-but-kept); new ones beyond are refused with 429",
            ),
          maxLabelsPerAlert: z
            .number()
            .int()
            .min(1)
            .default(64)
            .describe("Labels (and, separately, annotations) one alert may carry"),
          maxLabelValueBytes: z
            .number()
            .int()
            .min(64)
            .default(2048)
            .describe("Longest label name or value of an alert or silence matcher, in bytes"),
          maxAnnotationBytes: z
            .number()
            .int()
            .min(256)
            .default(16_384)
            .describe("Largest annotation value of an alert, in bytes"),
          maxSilences: z
            .number()
            .int()
            .min(10)
            .default(1000)
            .describe("Active and pending silences at once; more are refused with 429"),
          maxMatchersPerSilence: z
            .number()
            .int()
            .min(1)
            .default(32)
            .describe("Matchers one silence may carry"),
          historyRetentionMs: z
            .number()
            .int()
            .min(3_600_000)
            .default(7 * 86_400_000)
            .describe("Alert and notification history older than this is deleted from the state file"),
          maxHistoryRows: z
            .number()
            .int()
            .min(1000)
            .default(100_000)
            .describe(
              "The alert and notification history keeps at most this many rows (oldest dropped first)",
            ),
        })
        .prefault({}),
      smtp: z
        .strictObject({
          host: z.string().min(1).optional().describe("SMTP server host"),
          port: z.number().int().min(1).max(65535).default(587).describe("SMTP server port"),
          username: z.string().optional().describe("SMTP user name"),
          password: z.string().optional().describe("SMTP password (a secret)"),
          from: z.string().min(3).optional().describe("Sender address when alertmanager.yml names none"),
        })
        .prefault({}),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      defaultMetrics: z
        .boolean()
        .default(true)
        .describe("Export prom-client's process_* and nodejs_* metrics"),
      maxSeriesPerMetric: z
        .number()
        .int()
        .min(10)
        .default(2000)
        .describe("Cardinality guard: label sets beyond this fold into one overflow series"),
      systemSampleIntervalMs: durationMs(5000, "How often CPU, memory, disk and load are sampled"),
      diskPaths: z
        .array(z.string().min(1))
        .default([])
        .describe("Extra paths whose volumes are reported besides the data and log volumes"),
      httpDurationBuckets: buckets(DEFAULT_HTTP_BUCKETS).describe(
        "Buckets of http_request_duration_seconds, in seconds",
      ),
      dbDurationBuckets: buckets(DEFAULT_DB_BUCKETS).describe(
        "Buckets of db_query_duration_seconds, in seconds",
      ),
      summaryWindowSeconds: z
        .number()
        .int()
        .min(10)
        .max(3600)
        .default(300)
        .describe("Window of the rates and percentiles in /monitoring/metrics/json"),
      scrapeRendersPerSecond: z
        .number()
        .int()
        .min(0)
        .max(1000)
        .default(5)
        .describe(
          "Renders of /monitoring/metrics allowed per second; scrapes past it get the last render (at most 1 s old); 0: no bound",
        ),
    })
    .prefault({}),
  health: z
    .strictObject({
      timeoutMs: durationMs(2000, "Time limit of each check; a check past it fails"),
      cacheTtlMs: z
        .number()
        .int()
        .min(0)
        .max(60_000)
        .default(1000)
        .describe("Results younger than this are served from cache"),
      intervalMs: durationMs(
        10_000,
        "Checks also run in the background this often (keeps health_check_* fresh)",
      ),
      memory: thresholds(0.85, 0.95, "Memory usage ratio"),
      // A saturated CPU warns and does not fail by default (fail 1 is never reached: see the cpu
      // check): a busy host still serves; when the load delays requests, the event-loop check fails,
      // and a sustained one pages through HighCpuUsage.
      cpu: thresholds(0.8, 1, "CPU usage ratio (fail 1: never fails, only warns)"),
      disk: thresholds(0.85, 0.95, "Disk usage ratio"),
      eventLoop: z
        .strictObject({
          warnMs: z
            .number()
            .min(1)
            .default(100)
            .describe("Event-loop delay (p99 over the last interval) that warns"),
          failMs: z
            .number()
            .min(1)
            .default(1000)
            .describe("Event-loop delay (p99 over the last interval) that fails"),
        })
        .prefault({}),
      databaseWarnMs: z.number().min(1).default(500).describe("Database round trip slower than this warns"),
      livenessMaxBlockMs: z
        .number()
        .int()
        .min(100)
        .default(10_000)
        .describe("The live probe fails after the event loop was blocked this long within the last minute"),
      targets: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[a-z0-9_-]+$/i, "letters, digits, _ and - only"),
            url: z
              .string()
              .regex(/^(tcp:\/\/[^/:]+:\d+|https?:\/\/.+)$/, "expected tcp://host:port or http(s)://..."),
            critical: z.boolean().default(false),
            timeoutMs: z.number().int().min(1).optional(),
          }),
        )
        .default([])
        .describe("Network targets checked (TCP connect or HTTP GET); the SMTP host is added when set"),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      drainDelayMs: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          "After SIGTERM, readiness fails at once and the server keeps serving this long before it stops accepting (default 5000, 0 in development)",
        ),
      timeoutMs: durationMs(
        30_000,
        "In-flight requests get this long to finish; then the process exits non-zero",
      ),
    })
    .prefault({}),
  tsdb: z
    .strictObject({
      scrapeIntervalMs: durationMs(
        5000,
        "How often the registry is sampled into the embedded time-series store",
      ),
      retentionMs: z
        .number()
        .int()
        .min(60_000)
        .default(3_600_000)
        .describe(
          "In memory only (no tsdb.path): samples older than this are dropped from the embedded store",
        ),
      path: z
        .string()
        .optional()
        .describe(
          'Folder of the durable store (write-ahead log and blocks; docs/storage.md). Default: tsdb/ beside a SQLite database, else ./data/tsdb; "memory" keeps the store in memory only (the default with sqlite::memory:)',
        ),
      rawRetentionMs: z
        .number()
        .int()
        .min(3_600_000)
        .default(86_400_000)
        .describe("Durable store: raw samples are kept this long, then only their 5-minute aggregates"),
      downsampledRetentionMs: z
        .number()
        .int()
        .min(3_600_000)
        .default(31 * 86_400_000)
        .describe(
          "Durable store: 5-minute aggregates (count, sum, min, max, last) are kept this long (31 days: the default SLO window, 30 d, and a margin)",
        ),
      maxBytes: z
        .number()
        .int()
        .min(0)
        .default(2 * 1024 ** 3)
        .describe("Durable store: cap on its folder's size, oldest data deleted first (0: no cap)"),
      blockRangeMs: z
        .number()
        .int()
        .min(60_000)
        .max(86_400_000)
        .default(7_200_000)
        .describe("Durable store: time range of one block; the head (in memory) holds up to twice this"),
      maxSeries: z
        .number()
        .int()
        .min(100)
        .default(10_000)
        .describe("Series beyond this many are refused by the embedded store (and counted)"),
    })
    .prefault({}),
  engine: z
    .strictObject({
      queryTimeoutMs: durationMs(
        30_000,
        "A PromQL query (API or dashboard) is cancelled after this long, queue time included (Prometheus's --query.timeout; a request's own `timeout` can only lower it)",
      ),
      maxSamples: z
        .number()
        .int()
        .min(1000)
        .default(10_000_000)
        .describe(
          "Most samples one query may hold in memory at once (Prometheus's --query.max-samples; lower than its 50 M because the engine worker's heap is bounded by memoryLimitMb)",
        ),
      maxPointsPerSeries: z
        .number()
        .int()
        .min(100)
        .default(11_000)
        .describe("A range query with more steps than this is refused (Prometheus's fixed 11,000)"),
      maxQueuedQueries: z
        .number()
        .int()
        .min(1)
        .default(20)
        .describe(
          "Queries waiting for the engine worker beyond this many are refused with 503 (Prometheus's --query.max-concurrency queue)",
        ),
      memoryLimitMb: z
        .number()
        .int()
        .min(64)
        .default(1024)
        .describe(
          "Heap limit of the engine worker (store, PromQL, rules); past it the worker is restarted, the API is not affected",
        ),
      watchdogGraceMs: durationMs(
        5_000,
        "A worker that has not answered this long after a query's deadline is terminated and restarted",
      ),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      ruleFiles: z
        .array(z.string().min(1))
        .default(["monitoring/alert_rules.yml", "monitoring/slo_rules.yml"])
        .describe(
          "Prometheus rule files evaluated in-process (relative paths: the working directory, else the install folder)",
        ),
      evaluationIntervalMs: durationMs(
        15_000,
        "Evaluation interval of rule groups without an `interval` of their own",
      ),
      externalLabels: z
        .record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string())
        .default({})
        .describe("$externalLabels in rule templates"),
    })
    .prefault({}),
  api: z
    .strictObject({
      sessionTtlSeconds: z
        .number()
        .int()
        .min(60)
        .default(86_400)
        .describe("Lifetime of a login session token"),
      passwordMinLength: z.number().int().min(8).max(128).default(8).describe("Shortest password accepted"),
      loginThrottle: z
        .strictObject({
          perAccount: z
            .number()
            .int()
            .min(1)
            .default(10)
            .describe("Failed logins per account within windowMs before further attempts get 429"),
          perAddress: z
            .number()
            .int()
            .min(1)
            .default(100)
            .describe("Login attempts per client address within windowMs before further attempts get 429"),
          windowMs: durationMs(900_000, "Window of the login throttle"),
        })
        .prefault({}),
    })
    .prefault({}),
  faults: faultsSchema,
});

export const configSchema = settingsSchema.superRefine(refuseFaultsInProduction);

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Settings that come from an environment variable, with the path they set. */
export const ENV_SETTINGS = [
  { env: "ENVIRONMENT", path: ["environment"], kind: "string" },
  { env: "HOST", path: ["server", "host"], kind: "string" },
  { env: "PORT", path: ["server", "port"], kind: "integer" },
  { env: "LOG_LEVEL", path: ["log", "level"], kind: "string" },
  { env: "LOG_FILE_PATH", path: ["log", "filePath"], kind: "string" },
  { env: "LOG_PRETTY", path: ["log", "pretty"], kind: "string" },
  { env: "DATABASE_URL", path: ["database", "url"], kind: "string" },
  { env: "REDIS_URL", path: ["redis", "url"], kind: "string" },
  { env: "MONITORING_TOKEN", path: ["monitoring", "token"], kind: "string" },
  { env: "GRAFANA_ADMIN_PASSWORD", path: ["monitoring", "grafanaAdminPassword"], kind: "string" },
  { env: "SLACK_WEBHOOK_URL", path: ["notifications", "slackWebhookUrl"], kind: "string" },
  { env: "SMTP_HOST", path: ["notifications", "smtp", "host"], kind: "string" },
  { env: "SMTP_PORT", path: ["notifications", "smtp", "port"], kind: "integer" },
  { env: "SMTP_USERNAME", path: ["notifications", "smtp", "username"], kind: "string" },
  { env: "SMTP_PASSWORD", path: ["notifications", "smtp", "password"], kind: "string" },
  { env: "SMTP_FROM", path: ["notifications", "smtp", "from"], kind: "string" },
  { env: "WEBHOOK_SIGNING_SECRET", path: ["notifications", "webhookSigningSecret"], kind: "string" },
  { env: "ALERTMANAGER_URLS", path: ["notifications", "forwardTo"], kind: "list" },
  { env: "NOTIFICATIONS_ENABLED", path: ["notifications", "enabled"], kind: "boolean" },
  { env: "TUG_FAULT_ERROR_PERCENT", path: ["faults", "errorPercent"], kind: "integer" },
  { env: "TUG_FAULT_LATENCY_MS", path: ["faults", "latencyMs"], kind: "integer" },
  { env: "TUG_FAULT_HEALTH_FAIL", path: ["faults", "healthFail"], kind: "boolean" },
] as const satisfies ReadonlyArray<{
  env: string;
  path: readonly string[];
  kind: "string" | "integer" | "list" | "boolean";
}>;

/** Paths whose values are secrets: redacted wherever configuration is shown. */
export const SECRET_PATHS = [
  "monitoring.token",
  "monitoring.grafanaAdminPassword",
  "notifications.slackWebhookUrl",
  "notifications.smtp.password",
  "notifications.webhookSigningSecret",
] as const;
