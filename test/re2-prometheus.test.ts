import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAlertmanagerConfig } from "../src/alerts/notify/config.js";
import { newMatcher, validateSilenceRegex } from "../src/alerts/notify/matchers.js";
import { evaluateInstant } from "../src/promql/engine.js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";
import { compilePromRegex } from "../src/tsdb/re2.js";
import { type RealAlertmanager, startAlertmanager } from "./support/alertmanager.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { ensurePackage, freePort, promtoolPath } from "./support/services.js";

/**
 * The regex semantics of src/tsdb/re2.ts against the real Prometheus 2.42 and Alertmanager 0.25
 * (Debian's packages, Go 1.19): one series per label value below is backfilled into Prometheus
 * with promtool and appended to an embedded SeriesStore; every pattern is then run through
 * `=~`, `!~` and label_replace on both, and the answers must be equal. Refused patterns must be
 * refused with the same text, by the PromQL parser, label_replace, Alertmanager's silences and
 * its configuration (amtool check-config).
 */
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const T = 1_700_000_000; // seconds; every sample is here, so every query at T sees all series

// Label values, with the characters JS and Go read differently: \r and U+2028 (JS's `.` stops),
// \v and U+00A0 (JS's \s takes them), astral code points (two UTF-16 units), the Kelvin sign
// (folds to k), non-ASCII digits and letters. "" is the series without the label.
const VALUES = [
  "",
  "a",
  "A",
  "abc",
  "ABC",
  "a\nb",
  "a\rb",
  "a\u2028b",
  "\n",
  "abc\n",
  "5",
  "503",
  "5003",
  "5😀",
  "5😀😀",
  "٣",
  "é",
  "É",
  "ß",
  "ẞ",
  "αβγ",
  "Ωmega",
  "😀",
  "😁",
  "a😀",
  "🇫🇷",
  "x.y",
  "x+y",
  "xzy",
  "GET",
  "POST",
  "get",
  "GETPOST",
  "/api/v1/users",
  "/api/v2/x",
  "/api/v1/\n",
  "ab",
  "abcd",
  "aaa",
  "aaaa",
  "k",
  "\u212a",
  "_",
  " ",
  "\t",
  "\v",
  "\u00a0",
  "a_1",
  "xxabcxx",
  "A1",
  "漢字",
];

// Patterns, many of which JS reads differently (see test/re2.test.ts for which and how).
const PATTERNS = [
  ".*",
  ".+",
  "(?s).*",
  "(?s:.)+",
  ".",
  "..",
  "[^a]",
  "[^\\n]*",
  "5..",
  "\\s",
  "[\\d\\s]",
  "\\d",
  "\\d+",
  "\\w+",
  "\\W",
  "\\pL+",
  "\\p{Greek}+",
  "\\p{Han}+",
  "\\PL",
  "\\P{Latin}+",
  "[[:alpha:]]+",
  "[[:^digit:]]+",
  "[[:word:]]+",
  "\\Qx.y\\E",
  "x.y",
  "x\\.y",
  "abc\\z",
  "abc$",
  "(?m)^abc$",
  "\\babc\\b",
  "(?i)k",
  "(?i)GET|post",
  "(?i)ß",
  "(?i)[a-c]+",
  "",
  "x*",
  "\\x{1F600}",
  "\\x41",
  "\\101",
  "[😀-😂]",
  "a{2,3}",
  "(?U)a+",
  "/api/v1/.*",
  "GET|POST",
  "(GET|POST)",
  ".*abc.*",
  ".*b",
  "a.*",
  "(a|ab)(c|bcd)(d*)",
  "(?:(a)|b)+",
];

// label_replace(re2_test, "out", TEMPLATE, "v", PATTERN): submatches and Go's Expand.
const REPLACES: Array<[string, string]> = [
  ["(a|ab)(c|bcd)(d*)", "$1,$2,$3"],
  ["(?:(a)|b)+", "[$1]"],
  ["(a*)(a*)", "$1|$2"],
  ["(?U)(a+)(a*)", "$1|$2"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp template, not JS.
  ["(?P<first>.)(.*)", "${first}-$2-$first-$1x-$$-$"],
  ["(.)(.)?", "<$2>"],
  ["(\\pL)(.*)", "$2$1"],
  ["(.)", "$1$1"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp template, not JS.
  ["(.*)", "${1}!"],
  ["(?i)(get|post)", "$0/$1"],
  ["(5)(.)(.)", "$3$2$1"],
  ["(?P<01>.)(.)", "$01|$2"],
];

// Refused patterns; the expected texts are what Prometheus 2.42 answered when this test was
// written (`invalid parameter "query": 1:16: parse error: ` + the text below).
const REFUSED: Array<[string, string]> = [
  ["(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"],
  ["(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"],
  ["(?!a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
  ["(?<=a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(?<!a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(?<n>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["a++", "error parsing regexp: invalid nested repetition operator: `++`"],
  ["a{2}+", "error parsing regexp: invalid nested repetition operator: `{2}+`"],
  ["(?>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?>`"],
  ["(a", "error parsing regexp: missing closing ): `^(?:(a)$`"],
  ["a)(b", "error parsing regexp: unexpected ): `a)(b`"],
  ["[a", "error parsing regexp: missing closing ]: `[a)$`"],
  ["x{1001}", "error parsing regexp: invalid repeat count: `{1001}`"],
  ["\\p{Emoji}", "error parsing regexp: invalid character class range: `\\p{Emoji}`"],
  ["[\\p{Kawi}]", "error parsing regexp: invalid character class range: `\\p{Kawi}`"],
  ["\\C", "error parsing regexp: invalid escape sequence: `\\C`"],
  ["(?P<a(?<b>x)", "error parsing regexp: invalid named capture: `(?P<a(?<b>`"],
  ["a\\", "error parsing regexp: missing closing ): `^(?:a\\)$`"],
];

/** A PromQL string literal (Go's escapes are a superset of what JSON.stringify writes). */
const q = (s: string) => JSON.stringify(s);

let prom: ChildProcess | undefined;
let promBase = "";
let promLog = "";
let dir = "";
const store = new SeriesStore();

beforeAll(async () => {
  const [binary, promtool] = await Promise.all([ensurePackage("prometheus", "prometheus"), promtoolPath()]);
  dir = mkdtempSync(join(tmpdir(), "tug-re2-prom-"));
  const esc = (s: string) => s.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
  const lines = ["# TYPE re2_test gauge"];
  VALUES.forEach((v, i) => {
    const labels: Record<string, string> = { __name__: "re2_test", i: String(i) };
    if (v !== "") labels.v = v;
    const ref = store.getOrCreate(labelsFromObject(labels));
    if (typeof ref !== "number") throw new Error(`store refused ${JSON.stringify(v)}: ${ref}`);
    expect(store.appendRef(ref, T * 1000, 1)).toBe("ok");
    lines.push(`re2_test{i="${i}"${v === "" ? "" : `,v="${esc(v)}"`}} 1 ${T}`);
  });
  lines.push("# EOF", "");
  writeFileSync(join(dir, "data.om"), lines.join("\n"));
  await run(promtool, ["tsdb", "create-blocks-from", "openmetrics", join(dir, "data.om"), join(dir, "data")]);
  const port = await freePort();
  writeFileSync(join(dir, "prometheus.yml"), "global: {}\n");
  promBase = `http://127.0.0.1:${port}`;
  prom = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  prom.stderr?.on("data", (d) => {
    promLog = (promLog + d).slice(-4000);
  });
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(`${promBase}/-/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || prom.exitCode !== null)
      throw new Error(`prometheus did not start: ${promLog.slice(-2000)}`);
    await sleep(100);
  }
}, 600_000);

afterAll(async () => {
  if (prom && prom.exitCode === null) {
    const gone = new Promise((r) => prom?.once("exit", r));
    prom.kill("SIGTERM");
    await gone;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Answer = { ok: true; rows: string[] } | { ok: false; error: string };

/** Each result series as `i=<index> out=<out label or -> `, sorted. */
function rows(samples: Array<{ metric: Record<string, string> }>): string[] {
  return samples.map(({ metric }) => `i=${metric.i} out=${JSON.stringify(metric.out ?? "-")}`).sort();
}

async function prometheus(query: string): Promise<Answer> {
  const url = `${promBase}/api/v1/query?query=${encodeURIComponent(query)}&time=${T}`;
  const body = (await (await fetch(url)).json()) as {
    status: string;
    error?: string;
    data?: { result: Array<{ metric: Record<string, string> }> };
  };
  if (body.status !== "success") return { ok: false, error: String(body.error) };
  return { ok: true, rows: rows(body.data?.result ?? []) };
}

function embedded(query: string): Answer {
  try {
    const v = evaluateInstant(query, T * 1000, store);
    if (v.type !== "vector") throw new Error(`unexpected ${v.type}`);
    const out = v.samples.map((s) => ({
      metric: Object.fromEntries(s.labels.map((l) => [l.name, l.value])),
    }));
    return { ok: true, rows: rows(out) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

describe("the same answers as Prometheus 2.42", () => {
  it("has data loaded in both", async () => {
    const all = await prometheus("re2_test");
    expect(all).toEqual(embedded("re2_test"));
    expect(all.ok && all.rows).toHaveLength(VALUES.length);
  });

  it(`=~ and !~ for ${PATTERNS.length} patterns × ${VALUES.length} values`, async () => {
    const differences: string[] = [];
    let matched = 0;
    for (const p of PATTERNS) {
      for (const op of ["=~", "!~"]) {
        const query = `re2_test{v${op}${q(p)}}`;
        const [want, got] = [await prometheus(query), embedded(query)];
        if (want.ok && op === "=~") matched += want.rows.length;
        if (JSON.stringify(want) !== JSON.stringify(got))
          differences.push(
            `${query}\n  prometheus: ${JSON.stringify(want)}\n  embedded:   ${JSON.stringify(got)}`,
          );
      }
    }
    expect(differences).toEqual([]);
    expect(matched).toBeGreaterThan(PATTERNS.length); // the table is not vacuous
  });

  it(`label_replace with ${REPLACES.length} patterns and templates`, async () => {
    const differences: string[] = [];
    for (const [p, template] of REPLACES) {
      const query = `label_replace(re2_test, "out", ${q(template)}, "v", ${q(p)})`;
      const [want, got] = [await prometheus(query), embedded(query)];
      expect(want.ok, `${query}: ${JSON.stringify(want)}`).toBe(true);
      if (JSON.stringify(want) !== JSON.stringify(got))
        differences.push(
          `${query}\n  prometheus: ${JSON.stringify(want)}\n  embedded:   ${JSON.stringify(got)}`,
        );
    }
    expect(differences).toEqual([]);
  });

  it("refuses the same patterns with the same parse errors", async () => {
    const differences: string[] = [];
    for (const [p, text] of REFUSED) {
      const query = `re2_test{v=~${q(p)}}`;
      const want = await prometheus(query);
      expect(want, query).toEqual({
        ok: false,
        error: `invalid parameter "query": 1:10: parse error: ${text}`,
      });
      // The compiler's own message, then the engine's whole parse error.
      let compiled = "accepted";
      try {
        compilePromRegex(p);
      } catch (err) {
        compiled = (err as Error).message;
      }
      if (compiled !== text) differences.push(`${p}: compiler says ${JSON.stringify(compiled)}`);
      const got = embedded(query);
      const expected = { ok: false, error: `1:10: parse error: ${text}` };
      if (JSON.stringify(got) !== JSON.stringify(expected))
        differences.push(`${query}: engine says ${JSON.stringify(got)}`);
    }
    expect(differences).toEqual([]);
  });

  it("refuses label_replace's bad regexes as Prometheus does, and accepts what only the anchored form parses", async () => {
    for (const p of ["(a)\\1", "(?=a)", "(?<n>a)", "(a"]) {
      const query = `label_replace(re2_test, "out", "$1", "v", ${q(p)})`;
      const error = `invalid regular expression in label_replace(): ${p}`;
      expect(await prometheus(query)).toEqual({ ok: false, error });
      expect(embedded(query)).toEqual({ ok: false, error });
    }
    const query = `label_replace(re2_test, "out", "$1", "v", "a)(b")`;
    expect(await prometheus(query)).toEqual(embedded(query));
  });
});

describe("the same refusals as Alertmanager 0.25", () => {
  const BAD = ["(a)\\1", "(?=a)", "(?<=a)b", "(?<n>a)", "a++", "\\p{Emoji}"];
  let am: RealAlertmanager | undefined;
  let app: TestApp | undefined;
  const AM_CONFIG = "route: { receiver: a }\nreceivers: [{ name: a }]\n";

  beforeAll(async () => {
    am = await startAlertmanager(AM_CONFIG);
    writeFileSync(join(dir, "alertmanager.yml"), AM_CONFIG);
    app = await startTestApp(
      {},
      { yaml: `notifications:\n  alertmanagerConfig: ${JSON.stringify(join(dir, "alertmanager.yml"))}\n` },
    );
  }, 600_000);

  afterAll(async () => {
    await am?.stop();
    await app?.close();
  });

  const silence = (value: string) => ({
    matchers: [{ name: "job", value, isRegex: true, isEqual: true }],
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    createdBy: "test",
    comment: "regex parity",
  });

  it("refuses silences with such a regex: 400 naming the matcher, with Alertmanager's text", async () => {
    for (const value of [...BAD, "a)(b"]) {
      const r = await fetch(`${am?.url}/api/v2/silences`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(silence(value)),
      });
      expect(r.status).toBe(400);
      const amText = (await r.json()) as string;
      let ours = "accepted";
      try {
        validateSilenceRegex(value);
      } catch (err) {
        ours = (err as Error).message;
      }
      expect(amText).toBe(`silence invalid: invalid label matcher 0: ${ours}`);
    }
    for (const value of BAD) {
      const r = await app?.call("POST", "/monitoring/silences", { body: silence(value) });
      expect(r?.status).toBe(400);
      expect(r?.body.error.details[0].field).toBe("matchers[0].value");
      const goText = errorText(() => compilePromRegex(value));
      // The field is named in details; the message quotes the value and Go's (Alertmanager's) text.
      expect(r?.body.error.message).toContain(`${JSON.stringify(value)}: ${goText}`);
    }
  });

  it("refuses route matchers with such a regex as amtool check-config does", async () => {
    const amtool = await ensurePackage("amtool", "prometheus-alertmanager");
    for (const value of BAD) {
      for (const route of [`matchers: [${q(`job=~${q(value)}`)}]`, `match_re: { job: ${q(value)} }`]) {
        const file = join(dir, "route.yml");
        const yaml = `route:\n  receiver: a\n  routes:\n    - receiver: a\n      ${route}\nreceivers: [{ name: a }]\n`;
        writeFileSync(file, yaml);
        const checked = await run(amtool, ["check-config", file]).then(
          (r) => r.stdout,
          (e: { stdout: string }) => e.stdout,
        );
        const failed = /FAILED: (.*)/.exec(checked)?.[1];
        expect(failed, checked).toBeDefined();
        const ours = errorText(() => parseAlertmanagerConfig(yaml, file));
        expect(ours).toContain(failed);
        expect(ours).toContain(`job=~${JSON.stringify(value)}`);
      }
    }
    // What Alertmanager's matchers accept (the anchored form), ours accept too.
    expect(newMatcher("job", "=~", "a)(b").matches("ab")).toBe(true);
  });
});

function errorText(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  return "accepted";
}
