import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { settingsTable } from "../../src/core/config/docs.js";
import { ConfigError, ENV_SETTINGS, loadConfig, redactConfig } from "../../src/core/config/index.js";

const dir = mkdtempSync(join(tmpdir(), "tug-config-"));
function yamlFile(text: string): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(f, text);
  return f;
}

function failure(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("has the documented defaults", () => {
    const c = loadConfig({});
    expect(c.server.port).toBe(8000);
    expect(c.environment).toBe("development");
    expect(c.log.filePath).toBe("./logs/application.log");
    expect(c.database.url).toMatch(/^sqlite:\.\/data\//);
    expect(c.redis.url).toBeUndefined();
    expect(Object.isFrozen(c.server)).toBe(true);
  });

  it("reads every seed variable", () => {
    const c = loadConfig({
      PORT: "9001",
      HOST: "0.0.0.0",
      LOG_LEVEL: "debug",
      LOG_FILE_PATH: "/tmp/x.log",
      ENVIRONMENT: "staging",
      MONITORING_TOKEN: "0123456789abcdef0123",
      SLACK_WEBHOOK_URL: "https://hooks.slack.example/services/T/B/x",
      SMTP_HOST: "smtp.example",
      SMTP_PORT: "2525",
      SMTP_USERNAME: "u",
      SMTP_PASSWORD: "p",
      DATABASE_URL: "postgres://u:pw@127.0.0.1:5432/tug",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(c.server).toMatchObject({ port: 9001, host: "0.0.0.0" });
    expect(c.notifications.smtp).toEqual({ host: "smtp.example", port: 2525, username: "u", password: "p" });
    expect(c.database.url).toBe("postgres://u:pw@127.0.0.1:5432/tug");
  });

  it.each([
    [{ PORT: "abc" }, /^PORT="abc" is not valid: expected a whole number$/],
    [{ PORT: "70000" }, /^PORT=70000 is not valid: .*at most 65535/],
    [{ PORT: "-1" }, /^PORT=-1 is not valid: .*at least 0/],
    [
      { DATABASE_URL: "mysql://x/y" },
      /^DATABASE_URL="mysql:\/\/x\/y" is not valid: expected sqlite:<file path>/,
    ],
    [
      { ENVIRONMENT: "prod" },
      /^ENVIRONMENT="prod" is not valid: expected one of "development", "staging", "production"$/,
    ],
    [{ SMTP_PORT: "25x" }, /^SMTP_PORT="25x" is not valid/],
    [{ REDIS_URL: "localhost:6379" }, /^REDIS_URL="localhost:6379" is not valid: expected redis:\/\//],
  ])("rejects %j in one line naming the variable", (env, message) => {
    const m = failure(env as Record<string, string>);
    expect(m).toMatch(message);
    expect(m).not.toContain("\n");
  });

  it("reads LOG_LEVEL in any case, as the seed writes it (LOG_LEVEL=INFO), and still names a wrong one", () => {
    expect(loadConfig({ LOG_LEVEL: "INFO" }).log.level).toBe("info");
    expect(loadConfig({ LOG_LEVEL: "Debug" }).log.level).toBe("debug");
    expect(failure({ LOG_LEVEL: "LOUD" })).toMatch(/LOG_LEVEL="LOUD" is not valid/);
  });

  it("explains a MongoDB URL: the seed's database is not this project's", () => {
    const msg = failure({ DATABASE_URL: "mongodb://localhost:27017/tug" });
    expect(msg).toMatch(/DATABASE_URL/);
    expect(msg).toMatch(/MongoDB is not supported/);
    expect(msg).toMatch(/sqlite:|postgres:\/\//);
  });

  it("never echoes a secret or URL credentials in an error", () => {
    expect(failure({ MONITORING_TOKEN: "tooshort" })).toBe(
      "MONITORING_TOKEN=(secret, not shown) is not valid: expected a length of at least 16 (must be at least 16 characters)",
    );
    const m = failure({ DATABASE_URL: "mysql://admin:hunter2@db/x" });
    expect(m).not.toContain("hunter2");
    expect(m).toContain("[REDACTED]@");
  });

  it("requires the monitoring token outside development", () => {
    expect(failure({ ENVIRONMENT: "production" })).toMatch(
      /^MONITORING_TOKEN is required when ENVIRONMENT=production/,
    );
    expect(loadConfig({ ENVIRONMENT: "production", MONITORING_TOKEN: "x".repeat(32) }).environment).toBe(
      "production",
    );
  });

  it("reads the YAML file, the environment winning", () => {
    const f = yamlFile("server:\n  port: 9100\nmetrics:\n  maxSeriesPerMetric: 50\n");
    expect(loadConfig({ MONITORING_CONFIG: f }).server.port).toBe(9100);
    expect(loadConfig({ MONITORING_CONFIG: f, PORT: "9200" }).server.port).toBe(9200);
    expect(loadConfig({ MONITORING_CONFIG: f }).metrics.maxSeriesPerMetric).toBe(50);
  });

  it("names file:line:column for a bad YAML value", () => {
    const f = yamlFile("server:\n  port: 9100\nmetrics:\n  maxSeriesPerMetric: 5\n");
    expect(failure({ MONITORING_CONFIG: f })).toBe(
      `${f}:4:23: metrics.maxSeriesPerMetric = 5 is not valid: expected a value of at least 10`,
    );
  });

  it("names file:line:column for an unknown key", () => {
    const f = yamlFile("server:\n  port: 9100\n  prot: 1\n");
    expect(failure({ MONITORING_CONFIG: f })).toBe(
      `${f}:3:3: unknown setting "server.prot"; see docs/configuration.md for the settings`,
    );
  });

  it("names file:line:column for broken YAML and a missing file", () => {
    const f = yamlFile("server:\n  port: [9100\n");
    expect(failure({ MONITORING_CONFIG: f })).toMatch(new RegExp(`^${f}:\\d+:\\d+: invalid YAML: `));
    expect(failure({ MONITORING_CONFIG: join(dir, "missing.yml") })).toMatch(
      /^MONITORING_CONFIG: cannot read .*missing\.yml: ENOENT/,
    );
    const g = yamlFile("metrics:\n  httpDurationBuckets: [1, 0.5]\n");
    expect(failure({ MONITORING_CONFIG: g })).toMatch(
      /:2:24: metrics.httpDurationBuckets = \[1,0.5\] is not valid: must be strictly increasing$/,
    );
  });

  it("redacts secrets and URL credentials", () => {
    const c = loadConfig({
      MONITORING_TOKEN: "super-secret-token-123",
      SMTP_PASSWORD: "smtp-pass-456",
      SLACK_WEBHOOK_URL: "https://hooks.slack.example/services/T0/B0/abcdef",
      DATABASE_URL: "postgres://tug:db-pass-789@127.0.0.1/tug",
    });
    const text = JSON.stringify(redactConfig(c));
    for (const secret of ["super-secret-token-123", "smtp-pass-456", "abcdef", "db-pass-789"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("postgres://[REDACTED]@127.0.0.1/tug");
  });

  it("docs/configuration.md holds the generated settings table, every setting and variable", () => {
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    expect(doc).toContain(settingsTable());
    for (const s of ENV_SETTINGS) expect(doc).toContain(`\`${s.env}\``);
    expect(doc).toContain("`MONITORING_CONFIG`");
  });
});
