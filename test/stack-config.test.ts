// The stack's configuration files (issue 7): docker-compose.yml, Dockerfile, .env.example,
// monitoring/prometheus.yml, alert_rules.yml (+ its tests), alertmanager.yml, loki-config.yml,
// promtail-config.yml and the Grafana provisioning files. The real tools check what they can
// without a Docker engine (docker-compose config, promtool, amtool); the rest is checked for the
// structure its pinned version needs, and for agreement between the files (the paths, ports and
// names one file expects another to provide). Every check is also run on a deliberately broken
// copy, which it must reject. Dashboards are checked by their own test.

import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ensurePackage, promtoolPath } from "./support/services.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const at = (p: string) => join(ROOT, p);

type Obj = Record<string, any>;

const run = (cmd: string, args: string[], cwd = ROOT) =>
  new Promise<{ code: number; output: string }>((done) => {
    execFile(cmd, args, { cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      done({ code, output: `${stdout}${stderr}` });
    });
  });

const readText = (p: string) => readFile(at(p), "utf8");
const readYaml = async (p: string): Promise<Obj> => parse(await readText(p)) as Obj;
const clone = <T>(v: T): T => structuredClone(v);
const sorted = (list: string[]) => [...list].sort();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tug-stack-config-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh directory under the test's temp dir. */
async function scratch(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  return d;
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml as docker-compose resolves it

const SERVICES = [
  "alertmanager",
  "api",
  "grafana",
  "loki",
  "node-exporter",
  "prometheus",
  "promtail",
  "redis",
] as const;
/** Container ports the issue names (published or reachable on the stack's network). */
const PORTS: Record<string, number> = {
  api: 8000,
  prometheus: 9090,
  grafana: 3000,
  alertmanager: 9093,
  loki: 3100,
  "node-exporter": 9100,
  redis: 6379,
};
/** The versions the other tests run (Debian bookworm's packages): the stack must match them. */
const PINNED: Record<string, RegExp> = {
  prometheus: /^prom\/prometheus:v2\.42\.0$/,
  alertmanager: /^prom\/alertmanager:v0\.25\.0$/,
  grafana: /^grafana\/grafana:1[01]\.\d+\.\d+$/,
  loki: /^grafana\/loki:2\.9\.\d+$/,
  promtail: /^grafana\/promtail:2\.9\.\d+$/,
  "node-exporter": /^prom\/node-exporter:v1\.(?:[5-9]|\d{2,})\.\d+$/,
  redis: /^redis:7\.\d+\.\d+(?:-alpine)?$/,
};

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Volumes of a resolved service, in either the short (`src:dst:mode`) or the long form. */
function mounts(service: Obj): Mount[] {
  return ((service.volumes ?? []) as unknown[]).map((v) => {
    if (typeof v === "string") {
      const [source = "", target = "", mode = ""] = v.split(":");
      return { source, target, readOnly: mode.split(",").includes("ro") };
    }
    const o = v as Obj;
    return { source: String(o.source ?? ""), target: String(o.target), readOnly: o.read_only === true };
  });
}

function mountAt(service: Obj, target: string): Mount | undefined {
  return mounts(service).find((m) => m.target === target);
}

/** The mount whose target contains `path` (the deepest one). */
function mountFor(service: Obj, path: string): Mount | undefined {
  return mounts(service)
    .filter((m) => path === m.target || path.startsWith(`${m.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
}

function containerPorts(service: Obj): number[] {
  return ((service.ports ?? []) as unknown[]).map((p) => {
    if (typeof p === "object" && p) return Number((p as Obj).target);
    const m = /(\d+)(?:\/\w+)?$/.exec(String(p));
    return Number(m?.[1]);
  });
}

/** What a resolved compose file must hold; each entry names the service and the problem. */
function composeProblems(compose: Obj): string[] {
  const problems: string[] = [];
  const services = (compose.services ?? {}) as Record<string, Obj>;
  const names = Object.keys(services).sort();
  if (names.join() !== [...SERVICES].join()) problems.push(`services are ${names.join(", ")}`);
  const namedVolumes = new Set(Object.keys(compose.volumes ?? {}));
  const internal = Object.entries((compose.networks ?? {}) as Record<string, Obj | null>)
    .filter(([, n]) => n?.internal === true)
    .map(([name]) => name);
  if (internal.length === 0) problems.push("no internal network");
  for (const [name, s] of Object.entries(services)) {
    if (!["always", "unless-stopped", "on-failure"].includes(String(s.restart))) {
      problems.push(`${name}: restart is ${s.restart}`);
    }
    const pin = PINNED[name];
    if (pin && !pin.test(String(s.image))) problems.push(`${name}: image ${s.image} is not ${pin}`);
    if (name === "api") {
      if (!s.build) problems.push("api: not built from the Dockerfile");
    } else if (!s.healthcheck?.test) {
      problems.push(`${name}: no healthcheck`);
    }
    const nets = Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});
    if (!nets.some((n: string) => internal.includes(n))) problems.push(`${name}: not on an internal network`);
    for (const m of mounts(s)) {
      const isBind = m.source.startsWith("/") || m.source.startsWith(".");
      if (!isBind && !namedVolumes.has(m.source)) problems.push(`${name}: ${m.source} is not a named volume`);
    }
    const port = PORTS[name];
    const published = containerPorts(s);
    if (published.some((p) => p !== port)) problems.push(`${name}: publishes ${published.join()}`);
  }
  for (const name of ["api", "prometheus", "grafana", "alertmanager"]) {
    if (!containerPorts(services[name] ?? {}).includes(PORTS[name] as number)) {
      problems.push(`${name}: port ${PORTS[name]} is not published`);
    }
  }
  const data = (name: string, target: string) => {
    const m = services[name] ? mountAt(services[name], target) : undefined;
    if (!m || !namedVolumes.has(m.source)) problems.push(`${name}: ${target} is not on a named volume`);
  };
  data("prometheus", "/prometheus");
  data("grafana", "/var/lib/grafana");
  data("alertmanager", "/alertmanager");
  data("loki", "/loki");
  data("redis", "/data");
  const command = ((services.prometheus?.command ?? []) as string[]).join(" ");
  if (!/--storage\.tsdb\.retention\.time=\d+[smhdwy]/.test(command)) {
    problems.push("prometheus: no --storage.tsdb.retention.time");
  }
  return problems;
}

describe("docker-compose.yml", () => {
  let dockerCompose: string;
  let resolved: Obj;
  const config = (file: string, envFile = at(".env.example")) =>
    run(dockerCompose, ["--project-directory", ROOT, "-f", file, "--env-file", envFile, "config"]);

  beforeAll(async () => {
    dockerCompose = await ensurePackage("docker-compose", "docker-compose");
    const { code, output } = await config(at("docker-compose.yml"));
    if (code !== 0) throw new Error(`docker-compose config failed:\n${output}`);
    resolved = parse(output) as Obj;
  });

  it("is valid for docker-compose config with .env.example", async () => {
    const { code, output } = await config(at("docker-compose.yml"));
    expect(output).not.toMatch(/ERROR|WARNING|is not set/);
    expect(code).toBe(0);
  });

  it("is valid without any .env (every variable has a default)", async () => {
    const empty = join(await scratch("empty-env"), ".env");
    await writeFile(empty, "# nothing\n");
    const { code, output } = await config(at("docker-compose.yml"), empty);
    // docker-compose 1.29 says "The X variable is not set. Defaulting to a blank string."
    expect(output).not.toMatch(/is not set|WARNING/);
    expect(code).toBe(0);
    const noDefault = join(await scratch("no-default"), "docker-compose.yml");
    await writeFile(
      noDefault,
      (await readText("docker-compose.yml")).replace("LOG_LEVEL:-info}", "LOG_LEVEL}"),
    );
    expect((await config(noDefault, empty)).output).toMatch("The LOG_LEVEL variable is not set");
  });

  it("is rejected by docker-compose config when broken", async () => {
    const text = await readText("docker-compose.yml");
    const d = await scratch("compose-broken");
    const typo = join(d, "typo.yml");
    await writeFile(
      typo,
      text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    helthcheck: {}\n"),
    );
    const typoRun = await config(typo);
    expect(typoRun.code).not.toBe(0);
    expect(typoRun.output).toMatch(/helthcheck/);
    const undeclared = join(d, "volume.yml");
    await writeFile(undeclared, text.replace("prometheus-data:/prometheus", "prometheus-dta:/prometheus"));
    const volumeRun = await config(undeclared);
    expect(volumeRun.code).not.toBe(0);
    expect(volumeRun.output).toMatch(/prometheus-dta/);
  });

  it("runs the eight services with pinned images, restart policies, health checks and named volumes", () => {
    expect(composeProblems(resolved)).toEqual([]);
  });

  it("reports a floating tag, a missing restart policy or health check, an unnamed volume", () => {
    const broken = clone(resolved);
    broken.services.grafana.image = "grafana/grafana:latest";
    delete broken.services.loki.restart;
    delete broken.services.redis.healthcheck;
    broken.services.prometheus.volumes = ["/srv/prometheus:/prometheus:rw"];
    broken.services.prometheus.command = ["--config.file=/etc/prometheus/prometheus.yml"];
    broken.services["node-exporter"].ports = ["9101:9101"];
    expect(sorted(composeProblems(broken))).toEqual(
      sorted([
        "grafana: image grafana/grafana:latest is not /^grafana\\/grafana:1[01]\\.\\d+\\.\\d+$/",
        "loki: restart is undefined",
        "redis: no healthcheck",
        "node-exporter: publishes 9101",
        "prometheus: /prometheus is not on a named volume",
        "prometheus: no --storage.tsdb.retention.time",
      ]),
    );
  });

  it("reports a missing service or internal network", () => {
    const broken = clone(resolved);
    delete broken.services.redis;
    broken.networks.backend.internal = false;
    const problems = composeProblems(broken);
    expect(problems).toContain(
      "services are alertmanager, api, grafana, loki, node-exporter, prometheus, promtail",
    );
    expect(problems).toContain("no internal network");
    expect(problems).toContain("loki: not on an internal network");
  });

  it("documents every variable it reads in .env.example, which defaults to development", async () => {
    const compose = await readText("docker-compose.yml");
    // ${VAR}, ${VAR:-x}, ${VAR-x}; $${VAR} is for the container's shell, not for compose.
    const used = new Set([...compose.matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1] as string));
    const example = await readText(".env.example");
    const defined = new Set(
      example
        .split("\n")
        .map((l) => /^([A-Z_][A-Z0-9_]*)=/.exec(l)?.[1])
        .filter((v): v is string => v !== undefined),
    );
    expect([...used].filter((v) => !defined.has(v))).toEqual([]);
    expect(example).toMatch(/^ENVIRONMENT=development$/m);
    expect(example).toMatch(/^MONITORING_TOKEN=$/m);
    // The seed's Grafana password is there, and said to be a development default.
    expect(example).toMatch(/^GRAFANA_ADMIN_PASSWORD=admin123$/m);
    expect(example).toMatch(/admin123 is the DEVELOPMENT DEFAULT only/);
  });

  it("keeps .env out of git", async () => {
    const ignored = (await readText(".gitignore")).split("\n").map((l) => l.trim());
    expect(ignored).toContain(".env");
  });

  it("passes the API's log directory to promtail and the monitoring token to Prometheus", () => {
    const api = resolved.services.api as Obj;
    const logFile = String(api.environment.LOG_FILE_PATH);
    const apiLogs = mountFor(api, logFile);
    expect(apiLogs?.target).toBe(dirname(logFile));
    const promtailLogs = mounts(resolved.services.promtail).find((m) => m.source === apiLogs?.source);
    expect(promtailLogs?.readOnly).toBe(true);
    expect(api.environment.MONITORING_TOKEN).toBe("");
    expect(resolved.services.prometheus.environment.MONITORING_TOKEN).toBe("");
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Array<{ op: string; args: string }> {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: m?.[2] ?? "" };
    });
}

function dockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const all = instructions(text);
  const froms = all.filter((i) => i.op === "FROM");
  if (froms.length < 2) problems.push("not multi-stage");
  const lastFrom = all.lastIndexOf(froms[froms.length - 1] ?? { op: "", args: "" });
  const runtime = all.slice(lastFrom);
  const user = runtime.filter((i) => i.op === "USER").at(-1)?.args;
  if (!user || /^(root|0)(:|$)/.test(user)) problems.push(`runtime user is ${user ?? "root"}`);
  const health = runtime.find((i) => i.op === "HEALTHCHECK")?.args ?? "";
  if (!health.includes("/monitoring/health/live")) problems.push("no HEALTHCHECK on /monitoring/health/live");
  const copies = runtime.filter((i) => i.op === "COPY").map((i) => i.args);
  const fromStage = (what: string) => copies.find((c) => c.includes(what) && c.includes("--from="));
  const modules = fromStage("node_modules");
  const stage = modules ? /--from=(\S+)/.exec(modules)?.[1] : undefined;
  const stageStart = all.findIndex(
    (i) => i.op === "FROM" && new RegExp(`\\bAS\\s+${stage}$`, "i").test(i.args),
  );
  const stageEnd = all.findIndex((i, n) => n > stageStart && i.op === "FROM");
  const depsStage = stageStart >= 0 ? all.slice(stageStart, stageEnd) : [];
  if (!depsStage.some((i) => i.op === "RUN" && /npm ci\b.*--omit=dev/.test(i.args))) {
    problems.push("node_modules of the runtime are not production-only (npm ci --omit=dev)");
  }
  if (!fromStage("dist")) problems.push("the runtime does not copy the compiled dist/");
  if (copies.some((c) => /(^|\s)\.?\/?src\b/.test(c))) {
    problems.push("the runtime copies src/ (bin/tug.js would run tsx)");
  }
  const entry = [...runtime.filter((i) => i.op === "ENTRYPOINT"), ...runtime.filter((i) => i.op === "CMD")]
    .map((i) => i.args)
    .join(" ");
  if (!/bin\/tug\.js/.test(entry) || !/serve/.test(entry)) problems.push("does not start `tug serve`");
  return problems;
}

describe("Dockerfile", () => {
  it("builds a non-root, production-only image that runs dist/ with a liveness health check", async () => {
    expect(dockerfileProblems(await readText("Dockerfile"))).toEqual([]);
  });

  it("reports a root user, dev dependencies, src/ in the image, no health check", async () => {
    const text = await readText("Dockerfile");
    const broken = text
      .replace(/^USER node$/m, "USER root")
      .replace("npm ci --omit=dev", "npm ci")
      .replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, "")
      .replace("COPY bin ./bin", "COPY bin ./bin\nCOPY src ./src");
    expect(sorted(dockerfileProblems(broken))).toEqual(
      sorted([
        "runtime user is root",
        "no HEALTHCHECK on /monitoring/health/live",
        "node_modules of the runtime are not production-only (npm ci --omit=dev)",
        "the runtime copies src/ (bin/tug.js would run tsx)",
      ]),
    );
  });

  it("excludes local state and secrets from the build context", async () => {
    const ignored = (await readText(".dockerignore")).split("\n").map((l) => l.trim());
    for (const p of [".env", "node_modules", "data", "logs", ".git"]) expect(ignored).toContain(p);
  });

  it("copies every file the compiled app reads at run time", async () => {
    const text = await readText("Dockerfile");
    // server.ts reads ../package.json; the default rules and notification files are relative paths.
    expect(text).toMatch(/^COPY package\.json /m);
    expect(text).toMatch(/^COPY bin /m);
    expect(text).toMatch(
      /^COPY monitoring\/alert_rules\.yml monitoring\/slo_rules\.yml monitoring\/alertmanager\.yml monitoring\/escalation\.yml \.\/monitoring\/$/m,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Prometheus: promtool on the configuration, the rules and the rule tests

const JOBS = ["tug-api", "node-exporter", "prometheus", "alertmanager"];
const CONTAINER_CONFIG = "/etc/prometheus/prometheus.yml";

/** prometheus.yml against the compose file: jobs, targets, paths inside the container. */
function prometheusProblems(prom: Obj, compose: Obj): string[] {
  const problems: string[] = [];
  const services = compose.services as Record<string, Obj>;
  const jobs = ((prom.scrape_configs ?? []) as Obj[]).map((j) => j.job_name);
  if (jobs.join() !== JOBS.join()) problems.push(`jobs are ${jobs.join(", ")}`);
  if (!prom.global?.evaluation_interval) problems.push("no global.evaluation_interval");
  if (!prom.global?.scrape_interval) problems.push("no global.scrape_interval");
  const job = (name: string) => ((prom.scrape_configs ?? []) as Obj[]).find((j) => j.job_name === name);
  const targets = (name: string): string[] =>
    ((job(name)?.static_configs ?? []) as Obj[]).flatMap((c) => (c.targets ?? []) as string[]);
  const expectTarget = (name: string, service: string) => {
    const want = `${service}:${PORTS[service]}`;
    if (!services[service]) problems.push(`${name}: no service ${service}`);
    if (targets(name).join() !== want) problems.push(`${name}: targets ${targets(name).join()}, not ${want}`);
  };
  expectTarget("tug-api", "api");
  expectTarget("node-exporter", "node-exporter");
  expectTarget("alertmanager", "alertmanager");
  if (targets("prometheus").join() !== "localhost:9090") problems.push("prometheus: does not scrape itself");
  const api = job("tug-api");
  if (api?.metrics_path !== "/monitoring/metrics") problems.push("tug-api: metrics_path");
  const credentials = api?.authorization?.credentials_file as string | undefined;
  if (!credentials) problems.push("tug-api: no authorization.credentials_file");
  const am = ((prom.alerting?.alertmanagers ?? []) as Obj[]).flatMap((a) =>
    ((a.static_configs ?? []) as Obj[]).flatMap((c) => c.targets as string[]),
  );
  if (am.join() !== "alertmanager:9093") problems.push(`alerting targets ${am.join()}`);

  // Relative paths are relative to the configuration file's directory in the container.
  const inContainer = (p: string) => posix.resolve(posix.dirname(CONTAINER_CONFIG), p);
  const prometheus = services.prometheus ?? {};
  if (mountAt(prometheus, CONTAINER_CONFIG)?.source !== at("monitoring/prometheus.yml")) {
    problems.push(`compose does not mount monitoring/prometheus.yml at ${CONTAINER_CONFIG}`);
  }
  const command = ((prometheus.command ?? []) as string[]).join(" ");
  if (!command.includes(`--config.file=${CONTAINER_CONFIG}`)) problems.push("compose: --config.file");
  for (const rule of (prom.rule_files ?? []) as string[]) {
    const m = mountAt(prometheus, inContainer(rule));
    if (!m || basename(m.source) !== basename(rule))
      problems.push(`compose does not mount rule file ${rule}`);
  }
  for (const f of ["alert_rules.yml", "slo_rules.yml"])
    if (!((prom.rule_files ?? []) as string[]).includes(f)) problems.push(`${f} not loaded`);
  if (credentials) {
    const file = inContainer(credentials);
    const tmpfs = ([] as string[]).concat(prometheus.tmpfs ?? []);
    if (!tmpfs.some((t) => file.startsWith(`${t.split(":")[0]}/`))) {
      problems.push(`compose has no tmpfs for ${file}`);
    }
    const entrypoint = ([] as string[]).concat(prometheus.entrypoint ?? []).join(" ");
    if (!entrypoint.includes(`> ${file}`)) problems.push(`compose's entrypoint does not write ${file}`);
  }
  return problems;
}

describe("monitoring/prometheus.yml, alert_rules.yml and promtool 2.42", () => {
  let promtool: string;
  let compose: Obj;
  let layout: string;

  /** The container's layout in a temp dir: prometheus.yml, alert_rules.yml, secrets/monitoring_token. */
  async function containerLayout(name: string, prometheusYml?: string, rules?: string): Promise<string> {
    const d = await scratch(name);
    await mkdir(join(d, "secrets"), { recursive: true });
    await writeFile(
      join(d, "prometheus.yml"),
      prometheusYml ?? (await readText("monitoring/prometheus.yml")),
    );
    await writeFile(join(d, "alert_rules.yml"), rules ?? (await readText("monitoring/alert_rules.yml")));
    await writeFile(join(d, "slo_rules.yml"), await readText("monitoring/slo_rules.yml"));
    await writeFile(join(d, "secrets", "monitoring_token"), "0123456789abcdef0123456789abcdef");
    return d;
  }

  beforeAll(async () => {
    promtool = await promtoolPath();
    const dc = await ensurePackage("docker-compose", "docker-compose");
    const out = await run(dc, ["--env-file", at(".env.example"), "config"]);
    if (out.code !== 0) throw new Error(`docker-compose config failed:\n${out.output}`);
    compose = parse(out.output) as Obj;
    layout = await containerLayout("prometheus");
  });

  it("passes promtool check config, with its rule file and credentials file", async () => {
    const { code, output } = await run(promtool, ["check", "config", join(layout, "prometheus.yml")]);
    expect(output).toMatch("SUCCESS: 2 rule files found");
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(code).toBe(0);
  });

  it("fails promtool check config without the credentials file, with a bad rule or an unknown key", async () => {
    const tokenless = await containerLayout("prometheus-no-token");
    await rm(join(tokenless, "secrets", "monitoring_token"));
    const noToken = await run(promtool, ["check", "config", join(tokenless, "prometheus.yml")]);
    expect(noToken.code).not.toBe(0);
    expect(noToken.output).toMatch("secrets/monitoring_token");

    const rules = (await readText("monitoring/alert_rules.yml")).replace("> 0.1", "> > 0.1");
    const badRule = await containerLayout("prometheus-bad-rule", undefined, rules);
    const badRuleRun = await run(promtool, ["check", "config", join(badRule, "prometheus.yml")]);
    expect(badRuleRun.code).not.toBe(0);

    const config = (await readText("monitoring/prometheus.yml")).replace(
      "scrape_interval:",
      "scrape_intervall:",
    );
    const unknown = await containerLayout("prometheus-unknown-key", config);
    const unknownRun = await run(promtool, ["check", "config", join(unknown, "prometheus.yml")]);
    expect(unknownRun.code).not.toBe(0);
    expect(unknownRun.output).toMatch("scrape_intervall");
  });

  it("scrapes the API with the token file, node exporter, itself and Alertmanager, as compose runs them", async () => {
    expect(prometheusProblems(await readYaml("monitoring/prometheus.yml"), compose)).toEqual([]);
  });

  it("reports a renamed job, a wrong target, a token file nobody writes", async () => {
    const renamed = await readYaml("monitoring/prometheus.yml");
    renamed.scrape_configs[0].job_name = "api";
    delete renamed.global.evaluation_interval;
    expect(sorted(prometheusProblems(renamed, compose))).toEqual(
      sorted([
        "jobs are api, node-exporter, prometheus, alertmanager",
        "no global.evaluation_interval",
        "tug-api: targets , not api:8000",
        "tug-api: metrics_path",
        "tug-api: no authorization.credentials_file",
      ]),
    );
    const moved = await readYaml("monitoring/prometheus.yml");
    moved.scrape_configs[1].static_configs[0].targets = ["localhost:9100"];
    moved.scrape_configs[0].authorization.credentials_file = "/run/secrets/token";
    moved.rule_files = ["rules/alert_rules.yml"];
    expect(sorted(prometheusProblems(moved, compose))).toEqual(
      sorted([
        "node-exporter: targets localhost:9100, not node-exporter:9100",
        "compose does not mount rule file rules/alert_rules.yml",
        "alert_rules.yml not loaded",
        "slo_rules.yml not loaded",
        "compose has no tmpfs for /run/secrets/token",
        "compose's entrypoint does not write /run/secrets/token",
      ]),
    );
  });

  it("passes promtool check rules on alert_rules.yml, and fails on a broken copy", async () => {
    const ok = await run(promtool, ["check", "rules", at("monitoring/alert_rules.yml")]);
    expect(ok.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(ok.code).toBe(0);
    const broken = join(await scratch("rules-broken"), "alert_rules.yml");
    await writeFile(
      broken,
      (await readText("monitoring/alert_rules.yml")).replace("for: 5m", "for: five minutes"),
    );
    const bad = await run(promtool, ["check", "rules", broken]);
    expect(bad.code).not.toBe(0);
  });

  it("passes promtool test rules on alert_rules.test.yml, and fails when an expectation is wrong", async () => {
    const ok = await run(promtool, ["test", "rules", "alert_rules.test.yml"], at("monitoring"));
    expect(ok.output).toMatch("SUCCESS");
    expect(ok.code).toBe(0);
    const d = await scratch("rule-tests-broken");
    await copyFile(at("monitoring/alert_rules.yml"), join(d, "alert_rules.yml"));
    const tests = await readText("monitoring/alert_rules.test.yml");
    const wrong = tests.replace(
      "summary: TUG API error rate is 20% (over 10 %)",
      "summary: TUG API error rate is 30%",
    );
    expect(wrong).not.toBe(tests);
    await writeFile(join(d, "alert_rules.test.yml"), wrong);
    const bad = await run(promtool, ["test", "rules", "alert_rules.test.yml"], d);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch("FAILED");
  });
});

// ---------------------------------------------------------------------------------------------
// Alertmanager

describe("monitoring/alertmanager.yml and amtool 0.25", () => {
  it("passes amtool check-config, and a copy routing to an undefined receiver fails", async () => {
    const amtool = await ensurePackage("amtool", "prometheus-alertmanager");
    const ok = await run(amtool, ["check-config", at("monitoring/alertmanager.yml")]);
    expect(ok.output).toMatch("SUCCESS");
    expect(ok.code).toBe(0);
    const broken = join(await scratch("am-broken"), "alertmanager.yml");
    const text = await readText("monitoring/alertmanager.yml");
    await writeFile(broken, text.replace("receiver: oncall", "receiver: on-call"));
    const bad = await run(amtool, ["check-config", broken]);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch("on-call");
  });
});

// ---------------------------------------------------------------------------------------------
// Loki 2.9 and Promtail 2.9: no binaries here, so the keys their pinned version needs

const get = (o: unknown, path: string): unknown =>
  path
    .split(".")
    .reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Obj)[k] : undefined), o);

/**
 * Top-level blocks of Loki 2.9's configuration (docs/sources/configure/_index.md at v2.9.x, the
 * `loki.Config` struct): Loki loads its file strictly, so any other key stops it at start.
 */
const LOKI_29_TOP_LEVEL = new Set([
  "target",
  "auth_enabled",
  "ballast_bytes",
  "server",
  "distributor",
  "querier",
  "query_scheduler",
  "frontend",
  "query_range",
  "ruler",
  "ingester_client",
  "ingester",
  "index_gateway",
  "bloom_compactor",
  "bloom_gateway",
  "storage_config",
  "chunk_store_config",
  "schema_config",
  "compactor",
  "limits_config",
  "frontend_worker",
  "table_manager",
  "memberlist",
  "runtime_config",
  "operational_config",
  "tracing",
  "analytics",
  "common",
  "shutdown_delay",
]);

/**
 * Keys this single-process, filesystem-backed Loki 2.9 needs: storage paths, a TSDB schema with a
 * 24h index period (the compactor applies retention per daily table), and retention itself:
 * `compactor.retention_enabled`, `compactor.delete_request_store` (2.9 falls back to the shared
 * store; 3.0 requires it) and `limits_config.retention_period` (Loki's retention guide, v2.9.x).
 */
const LOKI_29_REQUIRED = [
  "auth_enabled",
  "server.http_listen_port",
  "common.path_prefix",
  "common.replication_factor",
  "common.ring.kvstore.store",
  "common.storage.filesystem.chunks_directory",
  "storage_config.tsdb_shipper.active_index_directory",
  "storage_config.tsdb_shipper.cache_location",
  "compactor.working_directory",
  "compactor.retention_enabled",
  "compactor.delete_request_store",
  "limits_config.retention_period",
];

/** Keys 3.x accepts but 2.9 does not (a config copied from newer docs fails at start). */
const LOKI_3_ONLY = [
  "pattern_ingester",
  "limits_config.allow_structured_metadata_v2",
  "common.compactor_grpc_address",
];

const hours = (d: string): number => {
  const m = /^(\d+)(h|d|w)$/.exec(d);
  if (!m) return Number.NaN;
  const unit = m[2] === "w" ? 168 : m[2] === "d" ? 24 : 1;
  return Number(m[1]) * unit;
};

function lokiProblems(loki: Obj, compose: Obj): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(loki)) if (!LOKI_29_TOP_LEVEL.has(key)) problems.push(`unknown key ${key}`);
  for (const key of LOKI_29_REQUIRED) if (get(loki, key) === undefined) problems.push(`missing ${key}`);
  for (const key of LOKI_3_ONLY) if (get(loki, key) !== undefined) problems.push(`3.x-only key ${key}`);
  const periods = (get(loki, "schema_config.configs") ?? []) as Obj[];
  if (periods.length === 0) problems.push("missing schema_config.configs");
  for (const p of periods) {
    for (const k of ["from", "store", "object_store", "schema", "index.prefix", "index.period"]) {
      if (get(p, k) === undefined) problems.push(`schema period without ${k}`);
    }
    if (!["tsdb", "boltdb-shipper"].includes(String(p.store)))
      problems.push(`store ${p.store} has no compactor retention`);
    if (get(p, "index.period") !== "24h") problems.push("index period is not 24h");
  }
  if (loki.compactor?.retention_enabled !== true) problems.push("compactor retention is off");
  const retention = hours(String(get(loki, "limits_config.retention_period")));
  if (!(retention >= 24)) problems.push("retention_period is not at least 24h");
  if (get(loki, "server.http_listen_port") !== PORTS.loki) problems.push("not listening on 3100");
  // Everything Loki writes lives on its named volume.
  const volume = mountAt(compose.services.loki, "/loki");
  if (!volume || !Object.keys(compose.volumes).includes(volume.source))
    problems.push("/loki is not a volume");
  for (const key of [
    "common.path_prefix",
    "common.storage.filesystem.chunks_directory",
    "storage_config.tsdb_shipper.active_index_directory",
    "storage_config.tsdb_shipper.cache_location",
    "compactor.working_directory",
  ]) {
    const p = String(get(loki, key) ?? "");
    if (p && !(p === "/loki" || p.startsWith("/loki/"))) problems.push(`${key} is outside /loki`);
  }
  const mount = mountFor(compose.services.loki, "/etc/loki/loki-config.yml");
  if (mount?.source !== at("monitoring/loki-config.yml")) problems.push("compose does not mount the file");
  if (!(compose.services.loki.command ?? []).includes("-config.file=/etc/loki/loki-config.yml")) {
    problems.push("compose does not pass -config.file");
  }
  return problems;
}

/** Promtail 2.9's configuration blocks (clients/pkg/promtail/config) and the ones it needs. */
const PROMTAIL_29_TOP_LEVEL = new Set([
  "server",
  "clients",
  "positions",
  "scrape_configs",
  "target_config",
  "limits_config",
  "options",
  "tracing",
  "global",
  "wal",
]);
const PROMTAIL_29_REQUIRED = ["server.http_listen_port", "positions.filename", "clients", "scrape_configs"];
/** Labels that may index the API's streams: each has a handful of values. */
const LOW_CARDINALITY = new Set(["job", "service", "level", "route"]);

function promtailProblems(promtail: Obj, compose: Obj): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(promtail))
    if (!PROMTAIL_29_TOP_LEVEL.has(key)) problems.push(`unknown key ${key}`);
  for (const key of PROMTAIL_29_REQUIRED)
    if (get(promtail, key) === undefined) problems.push(`missing ${key}`);
  const urls = ((promtail.clients ?? []) as Obj[]).map((c) => c.url);
  if (urls.join() !== `http://loki:${PORTS.loki}/loki/api/v1/push`) problems.push(`clients ${urls.join()}`);
  const job = ((promtail.scrape_configs ?? []) as Obj[]).find((s) => s.job_name === "tug-api");
  if (!job) return [...problems, "no tug-api scrape config"];
  const labels = Object.assign(
    {},
    ...((job.static_configs ?? []) as Obj[]).map((c) => c.labels ?? {}),
  ) as Obj;
  if (labels.job !== "tug-api") problems.push("streams are not labelled job=tug-api");
  const stages = (job.pipeline_stages ?? []) as Obj[];
  const stage = (name: string) => stages.find((s) => name in s)?.[name] as Obj | undefined;
  const json = (stage("json")?.expressions ?? {}) as Obj;
  const extracted = new Map(Object.entries(json).map(([k, v]) => [String(v ?? k), k]));
  for (const field of ["level", "route", "reqId", "time"]) {
    if (!extracted.has(field)) problems.push(`json stage does not extract ${field}`);
  }
  const indexed = [
    ...Object.keys(labels).filter((k) => !k.startsWith("__")),
    ...Object.keys(stage("labels") ?? {}),
  ];
  for (const l of indexed) if (!LOW_CARDINALITY.has(l)) problems.push(`label ${l} is not low-cardinality`);
  for (const l of ["level", "route"]) if (!indexed.includes(l)) problems.push(`${l} is not a label`);
  if (stage("timestamp")?.source !== extracted.get("time")) problems.push("no timestamp stage on time");

  // The path is the API's log file, seen through the shared volume.
  const api = compose.services.api as Obj;
  const logFile = String(api.environment?.LOG_FILE_PATH ?? "");
  const apiVolume = mountFor(api, logFile)?.source;
  const path = String(labels.__path__ ?? "");
  const seen = mountFor(compose.services.promtail, path);
  if (!seen || seen.source !== apiVolume || posix.basename(path) !== posix.basename(logFile)) {
    problems.push(`${path} is not the API's ${logFile}`);
  }
  const positions = String(get(promtail, "positions.filename") ?? "");
  const positionsVolume = mountFor(compose.services.promtail, positions);
  if (!positionsVolume || !Object.keys(compose.volumes).includes(positionsVolume.source)) {
    problems.push("positions are not on a named volume");
  }
  return problems;
}

describe("monitoring/loki-config.yml and promtail-config.yml (Loki and Promtail 2.9)", () => {
  let compose: Obj;
  beforeAll(async () => {
    const dc = await ensurePackage("docker-compose", "docker-compose");
    const out = await run(dc, ["--env-file", at(".env.example"), "config"]);
    if (out.code !== 0) throw new Error(`docker-compose config failed:\n${out.output}`);
    compose = parse(out.output) as Obj;
  });

  it("Loki: holds what 2.9 needs for a filesystem store with retention, on its volume", async () => {
    expect(lokiProblems(await readYaml("monitoring/loki-config.yml"), compose)).toEqual([]);
  });

  it("Loki: reports an unknown key, missing retention, a 3.x-only key, a path off the volume", async () => {
    const loki = await readYaml("monitoring/loki-config.yml");
    loki.limit_config = {};
    delete loki.limits_config.retention_period;
    loki.compactor.retention_enabled = false;
    loki.pattern_ingester = { enabled: true };
    loki.compactor.working_directory = "/tmp/compactor";
    expect(sorted(lokiProblems(loki, compose))).toEqual(
      sorted([
        "unknown key limit_config",
        "unknown key pattern_ingester",
        "missing limits_config.retention_period",
        "3.x-only key pattern_ingester",
        "compactor retention is off",
        "retention_period is not at least 24h",
        "compactor.working_directory is outside /loki",
      ]),
    );
  });

  it("Promtail: ships the API's log file with level and route as labels, the request id not", async () => {
    expect(promtailProblems(await readYaml("monitoring/promtail-config.yml"), compose)).toEqual([]);
  });

  it("Promtail: reports a request-id label, a path outside the shared volume, a wrong Loki URL", async () => {
    const promtail = await readYaml("monitoring/promtail-config.yml");
    const job = promtail.scrape_configs[0];
    job.pipeline_stages.find((s: Obj) => "labels" in s).labels.request_id = null;
    job.static_configs[0].labels.__path__ = "/var/log/*.log";
    promtail.clients[0].url = "http://localhost:3100/loki/api/v1/push";
    expect(sorted(promtailProblems(promtail, compose))).toEqual(
      sorted([
        "clients http://localhost:3100/loki/api/v1/push",
        "label request_id is not low-cardinality",
        "/var/log/*.log is not the API's /app/logs/application.log",
      ]),
    );
  });

  it("both parse as YAML, and a broken copy does not", async () => {
    for (const f of ["monitoring/loki-config.yml", "monitoring/promtail-config.yml"]) {
      const text = await readText(f);
      expect(() => parse(text)).not.toThrow();
      expect(() => parse(`${text}\nserver:\n  http_listen_port: 1\n`)).toThrow(/unique/i); // duplicate key
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Grafana provisioning

const DATASOURCES: Record<string, { type: string; service: string }> = {
  prometheus: { type: "prometheus", service: "prometheus" },
  loki: { type: "loki", service: "loki" },
  alertmanager: { type: "alertmanager", service: "alertmanager" },
};

function grafanaProblems(datasources: Obj, dashboards: Obj, compose: Obj): string[] {
  const problems: string[] = [];
  if (datasources.apiVersion !== 1) problems.push("datasources: apiVersion is not 1");
  const list = (datasources.datasources ?? []) as Obj[];
  const uids = list.map((d) => d.uid).sort();
  if (uids.join() !== Object.keys(DATASOURCES).sort().join())
    problems.push(`data source uids ${uids.join()}`);
  for (const ds of list) {
    const want = DATASOURCES[ds.uid as string];
    if (!want) continue;
    if (ds.type !== want.type) problems.push(`${ds.uid}: type ${ds.type}`);
    if (!ds.name) problems.push(`${ds.uid}: no name`);
    const url = `http://${want.service}:${PORTS[want.service]}`;
    if (ds.url !== url || !compose.services[want.service])
      problems.push(`${ds.uid}: url ${ds.url}, not ${url}`);
  }
  const am = list.find((d) => d.uid === "alertmanager");
  if (am?.jsonData?.implementation !== "prometheus")
    problems.push("alertmanager: implementation is not prometheus");
  if (list.filter((d) => d.isDefault === true).length !== 1)
    problems.push("not exactly one default data source");

  if (dashboards.apiVersion !== 1) problems.push("dashboards: apiVersion is not 1");
  const providers = (dashboards.providers ?? []) as Obj[];
  if (providers.length === 0) problems.push("no dashboard provider");
  const grafana = compose.services.grafana as Obj;
  const mounted = mounts(grafana).find((m) => m.source === at("monitoring/grafana/dashboards"));
  for (const p of providers) {
    if (p.type !== "file") problems.push(`provider ${p.name}: type ${p.type}`);
    if (p.options?.path !== mounted?.target) {
      problems.push(`provider ${p.name}: path ${p.options?.path} is not where compose mounts the dashboards`);
    }
  }
  const provisioning = mounts(grafana).find((m) => m.source === at("monitoring/grafana/provisioning"));
  if (provisioning?.target !== "/etc/grafana/provisioning")
    problems.push("compose does not mount provisioning/");
  return problems;
}

describe("monitoring/grafana/provisioning", () => {
  let compose: Obj;
  beforeAll(async () => {
    const dc = await ensurePackage("docker-compose", "docker-compose");
    const out = await run(dc, ["--env-file", at(".env.example"), "config"]);
    if (out.code !== 0) throw new Error(`docker-compose config failed:\n${out.output}`);
    compose = parse(out.output) as Obj;
  });
  const files = async () => ({
    datasources: await readYaml("monitoring/grafana/provisioning/datasources/datasources.yml"),
    dashboards: await readYaml("monitoring/grafana/provisioning/dashboards/dashboards.yml"),
  });

  it("provisions Prometheus, Loki and Alertmanager with fixed uids, and the repository's dashboards", async () => {
    const { datasources, dashboards } = await files();
    expect(grafanaProblems(datasources, dashboards, compose)).toEqual([]);
  });

  it("reports a changed uid, a wrong URL, a dashboard path compose does not mount", async () => {
    const { datasources, dashboards } = await files();
    datasources.datasources[0].uid = "Prometheus";
    datasources.datasources[1].url = "http://localhost:3100";
    delete datasources.datasources[2].jsonData.implementation;
    dashboards.providers[0].options.path = "/var/lib/grafana/dashboards";
    expect(sorted(grafanaProblems(datasources, dashboards, compose))).toEqual(
      sorted([
        "data source uids Prometheus,alertmanager,loki",
        "loki: url http://localhost:3100, not http://loki:3100",
        "alertmanager: implementation is not prometheus",
        "provider tug: path /var/lib/grafana/dashboards is not where compose mounts the dashboards",
      ]),
    );
  });
});
