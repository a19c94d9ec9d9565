// Label matching on the query hot path: a `=~` pattern tested against 100,000 distinct label
// values (what SeriesStore.select does for one matcher over a label's postings), and a whole
// selector over 100,000 series. Compares the JS RegExp the old hand translation produced
// (backtracking; kept here only as the baseline), re2js on its general path, and what
// compileRE2 uses now (re2js, or a fast path proven equal to it for the common forms).
//   npx tsx bench/regex.ts [--runs N]
import { RE2JS } from "re2js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";
import { compilePromRegex, fastMatcher } from "../src/tsdb/re2.js";

const argv = process.argv.slice(2);
const RUNS = Number(argv[argv.indexOf("--runs") + 1] || 9);
const N = 100_000;

const codes = [
  "200",
  "201",
  "204",
  "301",
  "302",
  "304",
  "400",
  "401",
  "403",
  "404",
  "429",
  "500",
  "502",
  "503",
];
const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const paths = (i: number) =>
  i % 3 === 0 ? `/api/v1/users/${i}` : i % 3 === 1 ? `/api/v2/items/${i}/detail` : `/health/${i}`;

// [pattern, values, the old translation's JS source for ^(?:pattern)$ (flag u)]
const CASES: Array<[string, (i: number) => string, string]> = [
  ["5..", (i) => (i < 1000 ? String(100 + i) : `${codes[i % codes.length]}/${i}`), "^(?:5[^\\n][^\\n])$"],
  [
    "GET|POST",
    (i) => (i < methods.length ? methods[i] : `${methods[i % methods.length]}/${i}`) as string,
    "^(?:GET|POST)$",
  ],
  ["/api/v1/.*", paths, "^(?:\\/api\\/v1\\/[^\\n]*)$"],
  [
    "(?i)get|post",
    (i) => (i < methods.length ? methods[i] : `${methods[i % methods.length]}/${i}`) as string,
    "^(?:[gG][eE][tT]|[pP][oO][sS][tT])$",
  ],
  ["5[0-9]{2}", (i) => (i < 1000 ? String(100 + i) : `${codes[i % codes.length]}/${i}`), "^(?:5[0-9]{2})$"],
  [
    "4..|5..",
    (i) => (i < 1000 ? String(100 + i) : `${codes[i % codes.length]}/${i}`),
    "^(?:4[^\\n][^\\n]|5[^\\n][^\\n])$",
  ],
  [".*(users|items).*", paths, "^(?:[^\\n]*(users|items)[^\\n]*)$"],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function time(test: (v: string) => boolean, values: string[]): { ms: number; hits: number } {
  let hits = 0;
  for (const v of values) if (test(v)) hits++; // warm-up
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    hits = 0;
    for (const v of values) if (test(v)) hits++;
    runs.push(performance.now() - t0);
  }
  return { ms: median(runs), hits };
}

console.log(`matching ${N.toLocaleString("en")} distinct label values, median of ${RUNS} runs (ms)`);
console.log("pattern              JS RegExp (old)   re2js general   now (path)");
for (const [pattern, gen, jsSource] of CASES) {
  const values = Array.from({ length: N }, (_, i) => gen(i));
  const js = new RegExp(jsSource, "u");
  const general = RE2JS.compile(`^(?:${pattern})$`);
  const now = compilePromRegex(pattern).test;
  const a = time((v) => js.test(v), values);
  const b = time((v) => general.test(v), values);
  const c = time(now, values);
  if (a.hits !== b.hits || b.hits !== c.hits)
    throw new Error(`${pattern}: hits differ ${a.hits} ${b.hits} ${c.hits}`);
  const path = fastMatcher(pattern) ? "fast" : "re2js";
  console.log(
    `${pattern.padEnd(20)} ${a.ms.toFixed(1).padStart(10)} ${b.ms.toFixed(1).padStart(15)} ${c.ms.toFixed(1).padStart(12)} (${path}), ${c.hits} hits`,
  );
}

// One selector over 100,000 series: the store narrows by the regex over the label's postings.
const store = new SeriesStore({ maxSeries: 200_000 });
for (let i = 0; i < N; i++) {
  const ref = store.getOrCreate(
    labelsFromObject({
      __name__: "http_requests_total",
      code: codes[i % codes.length] as string,
      path: paths(i),
    }),
  );
  if (typeof ref !== "number") throw new Error(ref);
  store.appendRef(ref, 0, 1);
}
for (const value of ["/api/v1/.*", ".*(users|items).*"]) {
  const runs: number[] = [];
  let n = 0;
  for (let r = 0; r < RUNS + 1; r++) {
    const t0 = performance.now();
    n = store.select([{ name: "path", type: "=~", value }], 0, 1).length;
    if (r > 0) runs.push(performance.now() - t0);
  }
  console.log(
    `select {path=~"${value}"} over ${N.toLocaleString("en")} series: ${median(runs).toFixed(1)} ms, ${n} series`,
  );
}
