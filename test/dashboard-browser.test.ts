// The dashboard in a real browser: Debian's chromium, headless, driven by puppeteer-core
// (chromium is installed through test/support/services.ts when missing). After some traffic every
// view loads with data and its charts have drawn points; new traffic appears without a reload; an
// alert shows on Overview and Alerts and a silence made on the page suppresses it; production
// without the token shows the sign-in form and no data; axe-core finds no serious or critical
// violation on any view. No fixed sleeps: every wait polls for what it needs.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { alertmanagerURL } from "../src/alerts/channels/templates.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { ensurePackage } from "./support/services.js";
import { waitFor } from "./support/wait.js";

const VIEWS = ["overview", "traffic", "errors", "resources", "alerts", "deployments", "users"] as const;
const WAIT = { timeout: 60_000 };
/** Set TUG_DASHBOARD_SHOTS=<dir> to keep a screenshot of each view. */
const SHOTS = process.env.TUG_DASHBOARD_SHOTS;

async function launch(): Promise<Browser> {
  const executablePath = await ensurePackage("chromium", "chromium");
  return puppeteer.launch({
    executablePath,
    headless: true,
    // As root (CI containers) chromium refuses to start with its sandbox.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

async function traffic(t: TestApp, n: number): Promise<string> {
  const email = `u${Date.now()}${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = "correct horse battery staple";
  await t.call("POST", "/api/v1/auth/register", { body: { email, password, name: "Dash" } });
  const login = await t.call("POST", "/api/v1/auth/login", { body: { email, password } });
  await t.call("POST", "/api/v1/auth/login", { body: { email, password: "wrong password!" } });
  const token = login.body.token as string;
  for (let i = 0; i < n; i++) {
    await t.call("GET", "/api/v1/users/me", { token });
    await t.call("POST", "/api/v1/activities", { token, body: { type: "run", title: `run ${i}` } });
    await t.call("GET", "/api/v1/activities", { token });
    await t.call("GET", `/api/v1/activities/${i}`, { token });
  }
  return token;
}

/** Pixels of the panel's canvases in one of the series' colours (--s0..--s7): drawn lines and points. */
async function seriesPixels(page: Page, panel: string): Promise<number> {
  return page.$$eval(`[data-panel="${panel}"] canvas`, (canvases) => {
    const probe = document.createElement("canvas").getContext("2d") as CanvasRenderingContext2D;
    const colours = Array.from({ length: 8 }, (_, i) => {
      probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue(`--s${i}`).trim();
      probe.fillRect(0, 0, 1, 1);
      return [...probe.getImageData(0, 0, 1, 1).data].slice(0, 3);
    });
    let n = 0;
    for (const c of canvases) {
      const cv = c as HTMLCanvasElement;
      const ctx = cv.getContext("2d");
      if (!ctx || cv.width === 0) continue;
      const d = ctx.getImageData(0, 0, cv.width, cv.height).data;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i] as number, d[i + 1] as number, d[i + 2] as number];
        if (
          colours.some(
            (k) =>
              Math.abs((k[0] as number) - r) +
                Math.abs((k[1] as number) - g) +
                Math.abs((k[2] as number) - b) <
              24,
          )
        )
          n++;
      }
    }
    return n;
  });
}

/** The charts of the view that have no series drawn in their colours. */
async function undrawn(page: Page): Promise<string[]> {
  const panels = await page.$$eval("[data-panel] .chart", (els) =>
    els.map((e) => (e.closest("[data-panel]") as HTMLElement).dataset.panel as string),
  );
  const blank: string[] = [];
  for (const p of panels) if ((await seriesPixels(page, p)) < 20) blank.push(p);
  return blank;
}

/** Panels that must show data after the test's traffic (others may rightly be empty). */
const MUST_HAVE_DATA: Record<string, string[]> = {
  overview: ["request_rate", "error_ratio", "latency", "in_flight"],
  traffic: ["by_status", "p95_by_route", "latency"],
  errors: ["log_lines"],
  resources: ["cpu_memory", "event_loop", "heap", "db_latency", "health_checks"],
  alerts: ["alerts"],
  deployments: ["request_rate", "latency"],
  users: ["active_users", "registrations", "logins"],
};

describe("dashboard in a browser (development)", () => {
  let t: TestApp;
  let browser: Browser;
  let userToken: string;
  let steady: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    [t, browser] = await Promise.all([
      startTestApp({}, { yaml: "tsdb:\n  scrapeIntervalMs: 500\n" }),
      launch(),
    ]);
    userToken = await traffic(t, 5);
    // Steady traffic while the pages load, so that rate-based panels (latency percentiles) have
    // points in every window however slowly a loaded machine renders the views.
    steady = setInterval(() => {
      void t.call("GET", "/api/v1/users/me", { token: userToken }).catch(() => undefined);
    }, 200);
    // The rates need two samples of the counters: wait until the engine has them.
    await waitFor(
      "request rates in the store",
      async () => {
        const r = await t.call(
          "GET",
          `/monitoring/api/v1/query?query=${encodeURIComponent("sum(rate(http_requests_total[10s])) > 0")}`,
        );
        return r.body.data?.result?.length > 0;
      },
      { timeoutMs: 60_000 },
    );
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 300_000);
  afterAll(async () => {
    clearInterval(steady);
    await browser?.close();
    await t?.close();
  });

  it("loads every view with data, and the charts have drawn points", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.setViewport({ width: 1400, height: 1000 });
    for (const view of VIEWS) {
      await page.goto(`${t.url}/monitoring/#/${view}?range=5m`, { waitUntil: "domcontentloaded" });
      await page.waitForSelector('nav a[aria-current="page"]', WAIT);
      expect(await page.$eval('nav a[aria-current="page"]', (a) => a.getAttribute("href"))).toContain(view);
      await page.waitForFunction(() => document.querySelector(".live.on") !== null, WAIT);
      // Loaded: no panel still loading.
      await page.waitForFunction(() => !document.querySelector('[role="status"].state'), WAIT);
      for (const panel of MUST_HAVE_DATA[view] ?? []) {
        await page.waitForSelector(`[data-panel="${panel}"] canvas`, WAIT);
        await page.waitForFunction(
          (p) => !document.querySelector(`[data-panel="${p}"] p.state`),
          WAIT,
          panel,
        );
      }
      let blank: string[] = [];
      await waitFor(
        `every chart of ${view} drawn`,
        async () => {
          blank = await undrawn(page);
          return blank.length === 0;
        },
        { timeoutMs: 60_000, last: () => blank },
      );
      if (SHOTS) await page.screenshot({ path: join(SHOTS, `${view}.png`), fullPage: true });
    }
    // Overview's figures are numbers, not placeholders.
    await page.goto(`${t.url}/monitoring/#/overview?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll(".card .value")).every((e) => !e.textContent?.includes("…")),
      WAIT,
    );
    const cards = await page.$$eval(".card", (els) => els.map((e) => e.textContent ?? ""));
    expect(cards.join("|")).toMatch(/Request rate\d/);
    expect(cards.join("|")).toMatch(/Health(pass|warn|fail)/);
    // Traffic lists the routes that were called, sortable.
    await page.goto(`${t.url}/monitoring/#/traffic?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector('[data-panel="routes"] tbody tr', WAIT);
    const routes = await page.$$eval('[data-panel="routes"] tbody tr td:first-child', (tds) =>
      tds.map((td) => td.textContent ?? ""),
    );
    expect(routes.join("\n")).toContain("/api/v1/activities");
    // Drill down: the route's own requests and latency, drawn.
    await page.click(`a[href="#/traffic?range=5m&route=${encodeURIComponent("/api/v1/activities")}"]`);
    await page.waitForSelector("#drill-h", WAIT);
    for (const panel of ["route_reqps", "route_s"]) {
      await page.waitForSelector(`[data-panel="${panel}"] canvas`, WAIT);
      // Requests keep coming while the page watches, as they would.
      await waitFor(
        `${panel} drawn`,
        async () => {
          await t.call("GET", "/api/v1/activities", { token: userToken });
          return (await seriesPixels(page, panel)) >= 20;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    }
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("shows new traffic without a reload", async () => {
    const page = await browser.newPage();
    await page.goto(`${t.url}/monitoring/#/traffic?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector('[data-panel="routes"] tbody tr', WAIT);
    const route = "/api/v1/auth/logout";
    expect(await page.$eval('[data-panel="routes"]', (e) => e.textContent)).not.toContain(route);
    await t.call("POST", route, { body: {} });
    await t.call("POST", route, { body: {} });
    await page.waitForFunction(
      (r) => document.querySelector('[data-panel="routes"]')?.textContent?.includes(r),
      WAIT,
      route,
    );
    await page.close();
  }, 120_000);

  it("says Loading… in a panel while its first data is on the way, then draws it", async () => {
    // A slow query, made deterministic: the engine holds the Registrations panel's query until the
    // test lets it go (the hub evaluates a view's queries in turn, so the view's first frame waits).
    const engine = t.app.engine as NonNullable<TestApp["app"]["engine"]>;
    const run = engine.run;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let held = 0;
    engine.run = (async (req: Parameters<typeof run>[0], opts?: Parameters<typeof run>[1]) => {
      if (req.op === "query_range" && "query" in req && req.query.includes("user_registrations_total")) {
        held++;
        await gate;
      }
      return run.call(engine, req, opts);
    }) as typeof run;
    onTestFinished(() => {
      release();
      engine.run = run;
    });
    const page = await browser.newPage();
    // 15 min: a (view, range) no other test watches, so its first evaluation is this page's.
    await page.goto(`${t.url}/monitoring/#/users?range=15m`, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(() => document.querySelector(".live.on") !== null, WAIT);
    await waitFor("the registrations query held", () => held > 0);
    await page.waitForFunction(
      () => document.querySelector('[data-panel="registrations"] p.state[role="status"]')?.textContent,
      WAIT,
    );
    expect(await page.$eval('[data-panel="registrations"]', (e) => e.textContent)).toContain(
      "Loading Registrations…",
    );
    expect(await page.$('[data-panel="registrations"] canvas')).toBeNull();
    release();
    await page.waitForSelector('[data-panel="registrations"] canvas', WAIT);
    await waitFor("the registrations drawn", async () => (await seriesPixels(page, "registrations")) >= 20, {
      timeoutMs: 60_000,
    });
    expect(await page.$('[data-panel="registrations"] p.state[role="status"]')).toBeNull();
    await page.close();
  }, 120_000);

  it("shows a from/to window picked on the page, and the server's refusal of a wrong one", async () => {
    const page = await browser.newPage();
    await page.goto(`${t.url}/monitoring/#/overview?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector(".range select", WAIT);
    await page.select(".range select", "custom");
    await page.waitForSelector('.range input[name="from"]', WAIT);
    // The window: the last 4 minutes, typed as the page's local time (datetime-local).
    const local = (ms: number) =>
      new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    const now = Date.now();
    const set = (name: string, value: string) =>
      page.$eval(
        `.range input[name="${name}"]`,
        (el, v) => {
          const input = el as HTMLInputElement;
          input.value = v as string;
          input.dispatchEvent(new Event("input", { bubbles: true }));
        },
        value,
      );
    await set("from", local(now - 4 * 60_000));
    await set("to", local(now + 60_000));
    await page.click('.range button[type="submit"]');
    await page.waitForFunction(() => /[?&]from=.*&to=/.test(location.hash), WAIT);
    const hash = await page.evaluate(() => location.hash);
    const from = Date.parse(new URLSearchParams(hash.slice(hash.indexOf("?") + 1)).get("from") ?? "");
    expect(Math.abs(from - Math.floor((now - 4 * 60_000) / 60_000) * 60_000)).toBeLessThan(60_000);
    await page.waitForFunction(() => document.querySelector(".live.on") !== null, WAIT);
    await page.waitForSelector('[data-panel="request_rate"] canvas', WAIT);
    await waitFor(
      "the window's request rate drawn",
      async () => (await seriesPixels(page, "request_rate")) >= 20,
      {
        timeoutMs: 60_000,
      },
    );
    // Other views keep the window.
    expect(await page.$eval('nav a[href^="#/traffic"]', (a) => a.getAttribute("href"))).toContain("from=");
    // A window the server refuses: its reason, naming the field, instead of a blank page.
    const iso = (ms: number) => new Date(ms).toISOString();
    await page.goto(`${t.url}/monitoring/#/overview?from=${iso(now)}&to=${iso(now - 60_000)}`, {
      waitUntil: "domcontentloaded",
    });
    await page.waitForFunction(
      () =>
        /cannot be shown: .*from must be before to/.test(document.querySelector("main")?.textContent ?? ""),
      WAIT,
    );
    await page.close();
  }, 120_000);

  it("shows the SLOs' objective, budget and burn rates on Overview, and template trends as sparklines", async () => {
    // The SLO recording rules' series, written into the store as a scrape of a source of their
    // own would be (the rules of monitoring/slo_rules.yml need minutes of traffic to say
    // anything). Their own source: staleness is per source, so the app's next scrape does not
    // mark them stale (sharing the sampler's, they vanished whenever a scrape came before the
    // page's first query: the timeout seen on a loaded machine).
    const engine = t.app.engine as NonNullable<TestApp["app"]["engine"]>;
    const base = ["service", "tug", "slo", "browser-test"];
    const series: Array<[string[], number]> = [
      [["__name__", "tug_slo_objective_ratio", ...base], 0.999],
      [["__name__", "tug_slo_error_budget_remaining_ratio", ...base], 0.42],
      [["__name__", "tug_slo_burn_rate", ...base, "window", "1h"], 2.5],
      [["__name__", "tug_slo_burn_rate", ...base, "window", "6h"], 0.5],
    ];
    const REF0 = 1_500_000_000;
    const now = Date.now();
    for (const [k, at] of [now - 10_000, now].entries())
      engine.ingest(
        {
          source: "dashboard-browser-test",
          timeMs: at,
          ok: true,
          reset: false,
          defs: k === 0 ? series.map(([labels], i) => ({ ref: REF0 + i, labels })) : [],
          forget: [],
          refs: Int32Array.from(series.map((_, i) => REF0 + i)),
          values: Float64Array.from(series.map(([, v]) => v)),
        },
        engine.generation(),
      );
    // The app's own scrape comes after them before the page asks (it used to mark them stale).
    const after = encodeURIComponent(`timestamp(process_resident_memory_bytes) > ${now / 1000}`);
    await waitFor("a scrape of the app after the SLO samples", async () => {
      const r = await t.call("GET", `/monitoring/api/v1/query?query=${after}`);
      return (r.body.data?.result ?? []).length > 0;
    });
    const page = await browser.newPage();
    await page.goto(`${t.url}/monitoring/#/overview?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector('tr[data-slo="browser-test"]', WAIT);
    const row = await page.$eval('tr[data-slo="browser-test"]', (e) =>
      Array.from(e.querySelectorAll("td")).map((td) => td.textContent?.trim()),
    );
    // service, SLO, objective, budget left, burn 5m 30m 1h 2h 6h 1d 3d
    expect(row).toEqual(["tug", "browser-test", "99.9 %", "42 %", "–", "–", "2.5×", "–", "0.5×", "–", "–"]);
    // The log templates' per-minute trend as a sparkline (an SVG line, its figures as its label).
    await waitFor("a log template", async () => {
      const r = await t.call("GET", "/monitoring/logs/patterns?limit=20");
      return (r.body.patterns ?? []).length > 0;
    });
    await page.goto(`${t.url}/monitoring/#/errors?range=5m`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("#tpl-h ~ * svg.spark polyline", WAIT);
    const label = await page.$eval("#tpl-h ~ * svg.spark", (e) => e.getAttribute("aria-label"));
    expect(label).toMatch(/lines per minute: last \d+, highest \d+, over \d+ points/);
    await page.close();
  }, 120_000);

  it("shows a firing alert on Overview and Alerts; a silence made on the page suppresses it", async () => {
    const labels = { alertname: "DashboardBrowserTest", severity: "warning", service: "tug" };
    const post = () =>
      t.call("POST", "/monitoring/api/v2/alerts", {
        body: [{ labels, annotations: { summary: "made to fire by the test" } }],
      });
    expect((await post()).status).toBe(200);
    const page = await browser.newPage();
    await page.goto(`${t.url}/monitoring/#/overview`, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(
      () => /Alerts firing \/ pending[1-9]/.test(document.querySelector(".cards")?.textContent ?? ""),
      WAIT,
    );
    // A notification's link (Alertmanager's URL in every message: the alerts routed to its
    // receiver) opens the list with the alert in it.
    const listed = await t.call("GET", "/monitoring/alerts");
    const group = (listed.body.groups as Array<{ receiver: string; labels: Record<string, string> }>).find(
      (g) => Object.entries(g.labels).every(([k, v]) => (labels as Record<string, string>)[k] === v),
    );
    expect(group).toBeDefined();
    const link = alertmanagerURL({ externalURL: `${t.url}/monitoring`, receiver: group?.receiver ?? "" });
    await page.goto(link, { waitUntil: "domcontentloaded" });
    await page.waitForSelector('tr[data-alert="DashboardBrowserTest"]', WAIT);
    // Matchers in the hash prefill the silence form.
    await page.goto(`${t.url}/monitoring/#/alerts?alertname=DashboardBrowserTest`, {
      waitUntil: "domcontentloaded",
    });
    await page.waitForSelector('tr[data-alert="DashboardBrowserTest"]', WAIT);
    const matchers = await page.$eval("textarea", (e) => (e as HTMLTextAreaElement).value);
    expect(matchers).toBe("alertname=DashboardBrowserTest");
    // Acknowledged from the page (its Ack button asks who): the list then says by whom.
    page.once("dialog", (d) => void d.accept("browser tester"));
    await page.click('tr[data-alert="DashboardBrowserTest"] button.ack');
    await page.waitForFunction(
      () =>
        document
          .querySelector('tr[data-alert="DashboardBrowserTest"]')
          ?.textContent?.includes("acknowledged by browser tester"),
      WAIT,
    );
    const acked = await t.call("GET", "/monitoring/alerts");
    const mineAcked = (
      acked.body.alerts as Array<{ labels: Record<string, string>; ack: { by: string } | null }>
    ).find((a) => a.labels.alertname === "DashboardBrowserTest");
    expect(mineAcked?.ack?.by).toBe("browser tester");
    expect(await page.$('tr[data-alert="DashboardBrowserTest"] button.ack')).toBeNull();
    await page.click('tr[data-alert="DashboardBrowserTest"] button:not(.ack)');
    await page.waitForFunction(
      () => (document.querySelector("textarea") as HTMLTextAreaElement).value.includes("severity="),
      WAIT,
    );
    await page.click('form.row button[type="submit"]');
    await page.waitForFunction(() => /Silence \S+ created/.test(document.body.textContent ?? ""), WAIT);
    const silences = await t.call("GET", "/monitoring/silences");
    const mine = (
      silences.body as Array<{ id: string; matchers: Array<{ name: string; value: string }> }>
    ).find((s) => s.matchers.some((m) => m.value === "DashboardBrowserTest"));
    expect(mine).toBeDefined();
    await page.waitForFunction(
      () =>
        document.querySelector('tr[data-alert="DashboardBrowserTest"]')?.textContent?.includes("silenced by"),
      WAIT,
    );
    // Extend it by an hour, then expire it, from the page.
    const endsAt = Date.parse((mine as unknown as { endsAt: string }).endsAt);
    // The silences table refreshes on its own, after or before the alert's row: wait for its row.
    await page.waitForSelector(`tr[data-silence="${mine?.id}"] button:not(.danger)`, WAIT);
    await page.click(`tr[data-silence="${mine?.id}"] button:not(.danger)`);
    await page.waitForFunction(() => /Silence \S+ extended/.test(document.body.textContent ?? ""), WAIT);
    const extended = await t.call("GET", `/monitoring/silences/${mine?.id}`);
    expect(Date.parse(extended.body.endsAt)).toBeGreaterThanOrEqual(endsAt + 3_600_000 - 1000);
    page.on("dialog", (d) => void d.accept());
    await page.click(`tr[data-silence="${mine?.id}"] button.danger`);
    await page.waitForFunction(() => /Silence \S+ expired/.test(document.body.textContent ?? ""), WAIT);
    await page.close();
  }, 120_000);

  it("shows a running deployment from its alert link, its timeline, and aborts it from the page", async () => {
    const started = await t.call("POST", "/monitoring/deployments", {
      body: {
        version: "9.9.9-dash",
        healthCheckUrl: `${t.url}/monitoring/health/live`,
        monitoringDurationMinutes: 30,
        checkIntervalSeconds: 10,
      },
    });
    expect(started.status).toBe(201);
    const id = started.body.deployment.id as string;
    const page = await browser.newPage();
    page.on("dialog", (d) => void d.accept());
    // The deployment outcome alert's link: <externalURL>/#/deployments/<id>.
    await page.goto(`${t.url}/monitoring/#/deployments/${encodeURIComponent(id)}`, {
      waitUntil: "domcontentloaded",
    });
    await page.waitForFunction((x) => document.querySelector("#dep-h")?.textContent?.includes(x), WAIT, id);
    await page.waitForSelector(".timeline li", WAIT);
    expect(await page.$eval("tbody", (e) => e.textContent)).toContain("9.9.9-dash");
    const abort = await page.$$eval("#dep-h ~ .row button", (bs) => bs.map((b) => b.textContent));
    expect(abort).toEqual(["Promote", "Abort", "Roll back"]);
    await page.click("#dep-h ~ .row button:nth-of-type(2)");
    await waitFor("the deployment aborted", async () => {
      const d = await t.call("GET", `/monitoring/deployments/${encodeURIComponent(id)}`);
      return d.body.deployment.phase === "aborted";
    });
    await page.waitForFunction(
      () => document.querySelector("#dep-h + p")?.textContent?.includes("aborted"),
      WAIT,
    );
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "deployment.png"), fullPage: true });
    await page.close();
  }, 120_000);

  it("has no serious or critical accessibility violation on any view (axe-core)", async () => {
    const page = await browser.newPage();
    // axe is injected as a script: let it past the page's CSP for this check only.
    await page.setBypassCSP(true);
    const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
    const found: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
      for (const view of VIEWS) {
        await page.goto(`${t.url}/monitoring/#/${view}?range=5m`, { waitUntil: "domcontentloaded" });
        await page.waitForFunction(() => document.querySelector(".live.on") !== null, WAIT);
        await page.waitForFunction(() => !document.querySelector('[role="status"].state'), WAIT);
        if (SHOTS && scheme === "dark")
          await page.screenshot({ path: join(SHOTS, `${view}-dark.png`), fullPage: true });
        await page.addScriptTag({ path: axePath });
        const violations = await page.evaluate(async () => {
          type Violation = { id: string; impact: string; nodes: Array<{ target: string[] }> };
          const axe = (
            window as unknown as {
              axe: { run(d: Document, o: object): Promise<{ violations: Violation[] }> };
            }
          ).axe;
          const r = await axe.run(document, { resultTypes: ["violations"] });
          return r.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map(
              (v) =>
                `${v.id} (${v.impact}): ${v.nodes
                  .slice(0, 3)
                  .map((n) => n.target.join(" "))
                  .join(", ")}`,
            );
        });
        for (const v of violations) found.push(`${scheme} ${view}: ${v}`);
      }
    }
    expect(found).toEqual([]);
    await page.close();
  }, 300_000);
});

describe("dashboard in a browser (production)", () => {
  let t: TestApp;
  let browser: Browser;
  const token = "browser-test-token-0123456789abcdef";
  beforeAll(async () => {
    [t, browser] = await Promise.all([
      startTestApp({ ENVIRONMENT: "production", MONITORING_TOKEN: token }, {}),
      launch(),
    ]);
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("shows the sign-in form and no data without the token; with it, the views", async () => {
    const page = await browser.newPage();
    const urls: string[] = [];
    page.on("request", (r) => urls.push(r.url()));
    await page.goto(`${t.url}/monitoring/#/overview`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector('input[type="password"]', WAIT);
    expect(await page.$("[data-panel]")).toBeNull();
    expect(await page.$(".cards")).toBeNull();
    await page.type('input[type="password"]', "not-the-token");
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => document.body.textContent?.includes("That token is wrong"), WAIT);
    await page.click('input[type="password"]', { clickCount: 3 });
    await page.type('input[type="password"]', token);
    await page.click('button[type="submit"]');
    await page.waitForSelector(".cards", WAIT);
    await page.waitForFunction(() => document.querySelector(".live.on") !== null, WAIT);
    // The token went in headers only, never in a URL.
    expect(urls.filter((u) => u.includes(token))).toEqual([]);
    await page.close();
  }, 120_000);
});
