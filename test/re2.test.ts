import fc from "fast-check";
import { RE2JS } from "re2js";
import { describe, expect, it } from "vitest";
import { newMatcher, parseMatchers, validateSilenceRegex } from "../src/alerts/notify/matchers.js";
import { executeTemplate, parseTemplate } from "../src/alerts/rules/template.js";
import { evaluateInstant } from "../src/promql/engine.js";
import { labelsFromObject, labelsToString, SeriesStore } from "../src/tsdb/index.js";
import {
  compileGoRegexp,
  compilePromRegex,
  compileRE2,
  fastMatcher,
  goExpand,
  RE2SyntaxError,
} from "../src/tsdb/re2.js";

/**
 * Go RE2 semantics for user patterns (src/tsdb/re2.ts): what the patterns mean, which ones are
 * refused and with which text, linear matching time, and the fast paths' equivalence with re2js.
 * test/re2-prometheus.test.ts checks the same against the real Prometheus 2.42 and Alertmanager.
 */

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
};

describe("semantics: RE2 (Go), not JS", () => {
  // [pattern, value, RE2's answer for a whole-value match, JS RegExp's answer for ^(?:p)$ when it
  // reads the pattern differently (undefined: JS cannot compile it or agrees)]
  const table: Array<[string, string, boolean, boolean?]> = [
    [".*", "a\nb", false],
    [".*", "a\rb", true, false], // JS's `.` also stops at \r, \u2028, \u2029
    [".*", "a\u2028b", true, false],
    ["(?s).*", "a\nb", true],
    [".", "😀", true, false], // one code point, two UTF-16 units
    ["..", "😀", false, true],
    ["[^a]", "😀", true, false],
    ["5..", "5😀😀", true, false],
    ["5..", "5😀", false, true],
    ["\\s", "\v", false, true], // Go's \s is [\t\n\f\r ]
    ["\\s", "\u00a0", false, true],
    ["\\d", "٣", false],
    ["\\pL+", "Ωmega", true],
    ["\\p{Greek}+", "αβγ", true],
    ["\\PL", "😀", true],
    ["[[:alpha:]]+", "abc", true],
    ["[[:alpha:]]+", "é", false],
    ["[[:^digit:]]+", "ab", true],
    ["\\Qa.b\\E", "a.b", true],
    ["\\Qa.b\\E", "axb", false],
    ["abc\\z", "abc", true],
    ["abc$", "abc\n", false],
    ["(?i)k", "\u212a", true], // the Kelvin sign folds to k in RE2 (JS's /k/i: no, see below)
    ["(?i)GET|post", "POST", true],
    ["(?i)ß", "ẞ", true],
    ["", "", true],
    ["", "a", false],
    [".*", "", true],
    ["x*", "", true],
    ["\\x{1F600}", "😀", true],
    ["[😀-😂]", "😁", true],
    ["a{2,3}", "aaa", true],
    ["a{2,3}", "aaaa", false],
    ["(?U)a+", "aaa", true],
    ["/api/v1/.*", "/api/v1/users", true],
    ["/api/v1/.*", "/api/v1/\n", false],
    ["GET|POST", "GETPOST", false],
    [".*abc.*", "xxabcxx", true],
  ];

  it.each(table)("%j against %j", (pattern, value, re2, js) => {
    expect(compileRE2(pattern).test(value)).toBe(re2);
    expect(compilePromRegex(pattern).test(value)).toBe(re2);
    expect(RE2JS.compile(`^(?:${pattern})$`).test(value)).toBe(re2);
    if (js !== undefined) {
      // The pattern really is read differently by JS: the old translation's trap.
      expect(new RegExp(`^(?:${pattern})$`).test(value)).toBe(js);
      expect(js).not.toBe(re2);
    }
  });

  it("folds case as RE2 does", () => {
    expect(/^k$/i.test("\u212a")).toBe(false);
    expect(compileRE2("(?i)k").test("\u212a")).toBe(true);
  });

  it("leftmost-first submatches, and captures in repetitions as Go keeps them", () => {
    const groups = (p: string, v: string) => [...(compileRE2(p).exec(v) ?? [])].slice(1);
    expect(groups("(a|ab)(c|bcd)(d*)", "abcd")).toEqual(["a", "bcd", ""]);
    expect(groups("(a*)(a*)", "aa")).toEqual(["aa", ""]);
    expect(groups("(?U)(a+)(a*)", "aaa")).toEqual(["a", "aa"]);
    // JS clears a group at each iteration of its repetition; Go keeps the last value it had.
    expect(groups("(?:(a)|b)+", "ab")).toEqual(["a"]);
    expect([...(/^(?:(?:(a)|b)+)$/.exec("ab") ?? [])].slice(1)).toEqual([undefined]);
  });

  it("runs label_replace with Go's Expand", () => {
    const store = new SeriesStore();
    const ref = store.getOrCreate(labelsFromObject({ __name__: "m", v: "abcd" }));
    if (typeof ref !== "number") throw new Error(ref);
    store.appendRef(ref, 0, 1);
    const out = (repl: string, re: string) => {
      const v = evaluateInstant(
        `label_replace(m, "out", ${JSON.stringify(repl)}, "v", ${JSON.stringify(re)})`,
        0,
        store,
      );
      if (v.type !== "vector") throw new Error(v.type);
      return v.samples.map((s) => labelsToString(s.labels));
    };
    expect(out("$1,$2,$3", "(a|ab)(c|bcd)(d*)")).toEqual(['m{out="a,bcd,",v="abcd"}']);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp template, not JS.
    expect(out("${1}x|$1x|$$|$", "(a).*")).toEqual(['m{out="ax||$|$",v="abcd"}']);
    expect(out("$name-$01-$0", "(?P<name>ab)(?P<01>c)d")).toEqual(['m{out="ab-c-abcd",v="abcd"}']);
    // Anchored: a partial match replaces nothing.
    expect(out("x", "bc")).toEqual(['m{v="abcd"}']);
    expect(errorOf(() => out("x", "(a)\\1")).message).toBe(
      "invalid regular expression in label_replace(): (a)\\1",
    );
  });

  it("expands like Go's regexp.Expand", () => {
    const g = (ref: number | string) => ({ 0: "all", 1: "one", x: "ex", é: "acute" })[ref as 0];
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp template, not JS.
    expect(goExpand("$1 ${1} $x ${x} $é $$ $ ${1 $1x $01 $9999999999", g)).toBe(
      "one one ex ex acute $ $ ${1   ",
    );
  });

  it("replaces like Go's ReplaceAllString (templates' reReplaceAll), unanchored", () => {
    expect(compileGoRegexp("a*").replaceAllString("baaac", "X")).toBe("XbXcX"); // JS: XbXXcX
    expect("baaac".replace(/a*/g, "X")).toBe("XbXXcX");
    expect(compileGoRegexp("(\\w+)@(\\w+)").replaceAllString("a@b c@d", "$2 at $1")).toBe("b at a d at c");
    expect(compileGoRegexp("").replaceAllString("😀a", "-")).toBe("-😀-a-");
    expect(compileGoRegexp("^").replaceAllString("ab", "-")).toBe("-ab");
  });

  it("gives rule templates Prometheus's match and reReplaceAll", () => {
    const run = (src: string) =>
      executeTemplate(parseTemplate(src), { labels: { instance: "db-1:9100" }, value: 1 });
    expect(run('{{ if match "db-[0-9]" $labels.instance }}yes{{ end }}')).toBe("yes"); // unanchored
    expect(run('{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}')).toBe("db-1");
    expect(run('{{ reReplaceAll "[0-9]" "#" $labels.instance }}')).toBe("db-#:####");
    expect(errorOf(() => run('{{ match "(?=x)" "x" }}')).message).toBe(
      "template: template:1: error calling match: error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
    );
    expect(errorOf(() => run('{{ reReplaceAll "(a" "" "a" }}')).message).toBe(
      "template: template:1: error calling reReplaceAll: regexp: Compile(`(a`): error parsing regexp: missing closing ): `(a`",
    );
  });
});

describe("rejections with Go 1.19's messages (Prometheus 2.42, Alertmanager 0.25)", () => {
  // What Prometheus 2.42 answered for `{v=~"<pattern>"}` after `parse error: ` (recorded from
  // the real binary; test/re2-prometheus.test.ts asks it again).
  const refused: Array<[string, string]> = [
    ["(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"],
    ["(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"],
    ["(?!a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
    ["(?<=a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
    ["(?<!a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
    ["(?<n>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"], // Go 1.22 only
    ["a++", "error parsing regexp: invalid nested repetition operator: `++`"],
    ["a*+", "error parsing regexp: invalid nested repetition operator: `*+`"],
    ["(?>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?>`"],
    ["\\k<n>", "error parsing regexp: invalid escape sequence: `\\k`"],
    ["(a", "error parsing regexp: missing closing ): `^(?:(a)$`"],
    ["a)(b", "error parsing regexp: unexpected ): `a)(b`"],
    ["x{1001}", "error parsing regexp: invalid repeat count: `{1001}`"],
    ["\\p{Emoji}", "error parsing regexp: invalid character class range: `\\p{Emoji}`"],
    ["[\\p{Kawi}]", "error parsing regexp: invalid character class range: `\\p{Kawi}`"],
    ["\\C", "error parsing regexp: invalid escape sequence: `\\C`"],
    ["\\Z", "error parsing regexp: invalid escape sequence: `\\Z`"],
  ];

  it.each(refused)("%j", (pattern, message) => {
    const e = errorOf(() => compilePromRegex(pattern));
    expect(e).toBeInstanceOf(RE2SyntaxError);
    expect(e.message).toBe(message);
  });

  it("accepts what Go 1.19 accepts around those constructs", () => {
    for (const p of ["[(?<]", "\\Q(?<\\E", "(?P<n>a)", "\\p{Greek}", "[\\P{^Latin}]", "(?i)(?s:.)", "\\pL"])
      expect(() => compilePromRegex(p)).not.toThrow();
    // An error before the Go 1.22-only construct is the one reported.
    expect(errorOf(() => compileRE2("(?P<a(?<b>x)")).message).toBe(
      "error parsing regexp: invalid named capture: `(?P<a(?<b>`",
    );
    expect(errorOf(() => compileRE2("\\8(?<n>x)")).message).toBe(
      "error parsing regexp: invalid escape sequence: `\\8`",
    );
  });

  it("anchored forms: label_replace and Alertmanager accept `a)(b`, Prometheus's selectors do not", () => {
    expect(compileRE2("a)(b").test("ab")).toBe(true);
    expect(() => compilePromRegex("a)(b")).toThrow("unexpected )");
  });

  it("a PromQL selector with such a regex fails at parse time", () => {
    // Needs src/promql/parse.ts to report the compiler's message as is (see the report).
    const store = new SeriesStore();
    expect(errorOf(() => evaluateInstant('up{job=~"(a)\\\\1"}', 0, store)).message).toBe(
      "1:4: parse error: error parsing regexp: invalid escape sequence: `\\1`",
    );
  });

  it("Alertmanager matchers name the matcher and give Go's text", () => {
    expect(errorOf(() => newMatcher("job", "=~", "(a)\\1")).message).toBe(
      'invalid regular expression in matcher job=~"(a)\\\\1": error parsing regexp: invalid escape sequence: `\\1`',
    );
    expect(errorOf(() => parseMatchers('{job=~"(?=a)"}')).message).toBe(
      'invalid regular expression in matcher job=~"(?=a)": error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    );
    expect(errorOf(() => validateSilenceRegex("a)(b")).message).toBe(
      'invalid regular expression "a)(b": error parsing regexp: unexpected ): `a)(b`',
    );
    expect(newMatcher("job", "=~", "a)(b").matches("ab")).toBe(true);
  });
});

describe("linear time", () => {
  const patterns: Array<[string, string]> = [
    ["(a+)+b", "a"],
    ["(a|a)*b", "a"],
    ["(a*)*b", "a"],
    ["(x+x+)+y", "x"],
  ];
  /** Everything a user pattern goes through: selector test, label_replace's exec, templates' match. */
  const work = (p: string, ch: string, n: number) => {
    const anchored = compileRE2(p);
    const unanchored = compileGoRegexp(p);
    const v = ch.repeat(n);
    // The required literal at the end defeats re2js's literal prefilter, so the automaton runs.
    const w = `${v}!${p.slice(-1)}`;
    return [
      anchored.test(v),
      anchored.test(w),
      anchored.exec(v),
      anchored.exec(w),
      unanchored.matchString(w),
    ];
  };

  it("answers on 48 characters and on 10,000 within 2 s in total (JS RegExp: hours)", () => {
    const t0 = performance.now();
    for (const [p, ch] of patterns) {
      // Unanchored, `(a|a)*b` and `(a*)*b` find the final "b" after an empty repetition.
      const expected = [false, false, null, null, p.includes(")*")];
      expect(work(p, ch, 48)).toEqual(expected);
      expect(work(p, ch, 10_000)).toEqual(expected);
      expect(compileRE2(p).test(`${ch.repeat(48)}${p.slice(-1)}`)).toBe(true);
    }
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it("takes time proportional to the input: 8 runs on n cost about 1 run on 8n", () => {
    // Linear: the ratio is about 1; quadratic would give 8. The bound leaves room for a loaded
    // machine; each side is the fastest of several trials to shed GC pauses and scheduling.
    // Both sizes are past 32 K characters, where re2js's captures run on its NFA (below, on a
    // faster bounded backtracker): comparing across that switch would measure the switch.
    // Trials alternate between the two sizes so that a change in the machine's load hits both.
    const time = (f: () => void) => {
      const t0 = performance.now();
      f();
      return performance.now() - t0;
    };
    for (const [p, ch] of patterns) {
      work(p, ch, 320_000); // warm up the JIT and the DFA cache
      let small = Infinity;
      let large = Infinity;
      for (let i = 0; i < 7; i++) {
        small = Math.min(
          small,
          time(() => {
            for (let k = 0; k < 8; k++) work(p, ch, 40_000);
          }),
        );
        large = Math.min(
          large,
          time(() => work(p, ch, 320_000)),
        );
      }
      // Quadratic would give 8; 5 leaves room for a machine with a load of 15 on 2 cores (3.4 seen).
      expect(large / small, `${p}: 8×40000 took ${small} ms, 1×320000 took ${large} ms`).toBeLessThan(5);
    }
  });
});

describe("fast paths are the same function as re2js", () => {
  it("covers the common selector forms", () => {
    // biome-ignore format: a table
    const fast = [
      "5..", "5[0-9]{2}", "[45]\\d\\d", "4..|5..", "GET|POST", "(GET|POST)", "/api/v1/.*", ".*abc", ".*abc.*",
      ".*", "abc", "a\\.b", "[^a]", "\\w{3}", "a{0}b", "", "(?i)get|post", "(?i:error)", ".*(users|items).*",
      "(GET|POST).*",
    ];
    for (const p of fast) expect(fastMatcher(p), p).toBeDefined();
    // biome-ignore format: a table
    const general = [
      "(?i)g.t", "(?i)é", "a+", "a{2,3}", "(a)(b)", "^a", ".*a.*b", "a|.*b.", "[[:alpha:]]", "\\pL", "a{01}",
      "a{2}{3}", "[a-\\d]", "[]a]", "é|[é]", "\\x41", "a{1001}", ".*(a|.).*", ".*(a\\).*",
    ];
    for (const p of general) expect(fastMatcher(p), p).toBeUndefined();
  });

  it("folds ASCII case as RE2 does, checked over every code point", () => {
    // The (?i) fast path's premise: only ASCII, K (U+212A) and ſ (U+017F) fold to ASCII letters.
    const anyAscii = RE2JS.compile("^(?i:[\\x00-\\x7f])$");
    const k = RE2JS.compile("^(?i:k)$");
    const s = RE2JS.compile("^(?i:s)$");
    const folding: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (anyAscii.test(c)) folding.push(`${cp.toString(16)}:${k.test(c) ? "k" : s.test(c) ? "s" : "?"}`);
    }
    expect(folding).toEqual(["17f:s", "212a:k"]);
    for (let c = 0x21; c < 0x7f; c++) {
      const re = RE2JS.compile(`^(?i:${RE2JS.quote(String.fromCharCode(c))})$`);
      const orbit = [];
      for (let d = 0; d < 0x80; d++) if (re.test(String.fromCharCode(d))) orbit.push(d);
      const lower = String.fromCharCode(c).toLowerCase().charCodeAt(0);
      const upper = String.fromCharCode(c).toUpperCase().charCodeAt(0);
      expect(orbit).toEqual([...new Set([upper, lower])].sort((a, b) => a - b));
    }
  });

  it("agrees with re2js on (?i) literals and literals around .*", () => {
    const word = fc.array(fc.constantFrom("a", "k", "s", "K", "S", "1", "-", "\\.", "é"), { maxLength: 3 });
    const alts = fc
      .array(
        word.map((w) => w.join("")),
        { minLength: 1, maxLength: 3 },
      )
      .map((ws) => ws.join("|"));
    const pattern = fc
      .tuple(fc.constantFrom("(?i)", "(?i)(", "(?i:", ".*(", "(", ".*(?:"), alts)
      .map(([pre, body]) =>
        pre === "("
          ? `(${body}).*`
          : pre.endsWith("(") || pre.endsWith(":")
            ? `${pre}${body})${pre.startsWith(".*") ? ".*" : ""}`
            : pre + body,
      );
    const chars = ["a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "1", "-", ".", "é", "É", "\n", ""];
    const value = fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((xs) => xs.join(""));
    let covered = 0;
    fc.assert(
      fc.property(pattern, fc.array(value, { minLength: 1, maxLength: 24 }), (p, values) => {
        const fast = fastMatcher(p);
        if (fast === undefined) return;
        covered++;
        const re = RE2JS.compile(`^(?:${p})$`);
        for (const v of values)
          expect(fast(v), `${JSON.stringify(p)} on ${JSON.stringify(v)}`).toBe(re.test(v));
      }),
      { numRuns: 3_000 },
    );
    expect(covered).toBeGreaterThan(1_000);
  });

  it("agrees with re2js on random patterns and values", () => {
    // biome-ignore format: a table
    const pieces = [
      "a", "b", "5", "é", "😀", "\n", ".", ".*", "|", "\\.", "\\-", "\\|", "\\*", " ", "(", ")", "(?:",
      "*", "+", "?", "[ab]", "[^a]", "[a-c]", "[-a]", "[a-]", "[\\d.]", "[^\\s]", "\\d", "\\D", "\\s", "\\W",
      "{2}", "{0}", "{01}", "{", "}", "]", "[", "\\", "(?i)", "(?i:", ".*(", ").*", "k", "s", "K",
    ];
    // biome-ignore format: a table
    const chars = ["a", "b", "c", "5", "0", "_", "é", "😀", "\n", "\t", "\v", ".", "-", "|", "*", " ", "\uD800", "\uDC00", "", "A", "k", "K", "\u212a", "s", "S", "\u017f"];
    const pattern = fc.array(fc.constantFrom(...pieces), { maxLength: 6 }).map((xs) => xs.join(""));
    // Short values mostly, so that one-character values such as "\n" come up often.
    const value = fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((xs) => xs.join(""));
    let covered = 0;
    fc.assert(
      fc.property(pattern, fc.array(value, { minLength: 1, maxLength: 24 }), (p, values) => {
        const fast = fastMatcher(p);
        if (fast === undefined) return;
        covered++;
        const re = RE2JS.compile(`^(?:${p})$`);
        for (const v of values)
          expect(fast(v), `${JSON.stringify(p)} on ${JSON.stringify(v)}`).toBe(re.test(v));
      }),
      { numRuns: 6_000 },
    );
    expect(covered).toBeGreaterThan(1_000);
  });
});
