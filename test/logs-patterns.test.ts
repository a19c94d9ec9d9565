// Template miner: masking, stable ids, persistence, LRU cap, line parsing, and the
// `tug logs analyze` CSV.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { logsCommand } from "../src/cli/logs.js";
import {
  compileLogFormat,
  LineParser,
  maskMessage,
  parseLine,
  TemplateMiner,
  templateId,
} from "../src/logs/patterns/index.js";
import { hashKey, keyCodes, MaskedMessage } from "../src/logs/patterns/tokenize.js";
import { mulberry32 } from "./support/prng.js";

describe("maskMessage", () => {
  it.each([
    ["numbers with units and durations", "took 125 ms, retry 3 after 1.5s", "took <*>, retry <*> after <*>"],
    [
      "a unit joins its number, inside a parenthesised aside too",
      "close, 1190 bytes (1.16 KB) sent, size 384.0 B, free 2 GB.",
      "close, <*> bytes (<*>) sent, size <*>, free <*>.",
    ],
    ["a word after a number is no unit", "sent 3 messages in 2 secs", "sent <*> messages in <*>"],
    [
      "host names and host:port",
      "proxy.cse.example.hk:5070 open through proxy www.example.com:80 HTTPS",
      "<*>:<*> open through proxy <*>:<*> HTTPS",
    ],
    [
      "dotted identifiers are not hosts",
      "action android.intent.action.SCREEN_ON from java.io.IOException and chrome.exe",
      "action android.intent.action.SCREEN_ON from java.io.IOException and chrome.exe",
    ],
    ["hex", "bad pointer 0x7ffe12ab at frame 0xdeadbeef", "bad pointer <*> at frame <*>"],
    ["IP, IP:port and bracketed", "from 10.0.0.1:8080 [192.168.1.20] /10.2.3.4", "from <*>:<*> [<*>] <*>"],
    ["UUID", "request 123e4567-e89b-12d3-a456-426614174000 done", "request <*> done"],
    ["block and job ids", "blk_-6952295868487656571 job_1445144423722_0020", "<*> <*>"],
    [
      "key=value keeps the key",
      "uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
      "uid=<*> euid=<*> tty=NODEVssh ruser= rhost=<*>",
    ],
    ["paths", "loading /usr/lib/app.so and ./run.sh in C:\\Temp\\x", "loading <*> and <*> in C:<*>"],
    ["MAC address", "chip FF:F2:9F:16:E5:DC changed", "chip <*>:<*>:<*>:<*>:<*>:<*> changed"],
    ["embedded date", "connection at Sun Jul 10 04:36:37 2005", "connection at <*> <*> <*> <*>:<*>:<*> <*>"],
    ["dot leaders", "caused by dcbf.........0", "caused by dcbf.........<*>"],
    ["whitespace", "  a \t b   c  ", "a b c"],
    [
      "a digit masks the whole segment",
      "Receiving block from ssh2-less host",
      "Receiving block from <*> host",
    ],
  ])("%s", (_name, input, expected) => {
    expect(maskMessage(input)).toBe(expected);
  });
});

describe("TemplateMiner", () => {
  const lines = [
    "session opened for user cyrus by (uid=0)",
    "session opened for user news by (uid=0)",
    "session opened for user test by (uid=0)",
    "session opened for user root by (uid=0)",
    "session opened for user alice by (uid=1000)",
    "Invalid user admin from 10.0.0.1",
    "Invalid user 1234 from 10.0.0.2",
    "Invalid user oracle from 10.0.0.3",
    "PacketResponder 1 for block blk_123 terminating",
    "PacketResponder 2 for block blk_-456 terminating",
    "data TLB error interrupt",
    "instruction TLB error interrupt",
  ];

  function mine(input: string[]): TemplateMiner {
    const m = new TemplateMiner();
    for (const l of input) m.observe(l);
    m.refine();
    return m;
  }

  it("groups parameters that masking cannot see (word values) and keeps distinct words apart", () => {
    const m = mine(lines);
    const t = (s: string) => m.match(s).template;
    expect(t("session opened for user bob by (uid=5)")).toBe("session opened for user <*> by (uid=<*>)");
    // `Invalid user 1234` shows the slot holds parameters, so `admin` and `oracle` join it.
    expect(t("Invalid user admin from 10.0.0.1")).toBe("Invalid user <*> from <*>");
    expect(t("PacketResponder 1 for block blk_9 terminating")).toBe(
      "PacketResponder <*> for block <*> terminating",
    );
    // Two values, no sign of a parameter: two templates.
    expect(t("data TLB error interrupt")).toBe("data TLB error interrupt");
    expect(t("instruction TLB error interrupt")).toBe("instruction TLB error interrupt");
  });

  it("gives the same template the same id across runs, orders and a persistence round trip", () => {
    const a = mine(lines);
    const b = mine([...lines].reverse());
    for (const l of lines) expect(b.match(l)).toEqual(a.match(l));
    const id = a.match(lines[0] as string).id;
    expect(id).toBe(templateId("session opened for user <*> by (uid=<*>)"));
    expect(id).toMatch(/^[0-9a-f]{16}$/);

    const restored = TemplateMiner.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    expect(restored.templates()).toEqual(a.templates());
    for (const l of lines) expect(restored.match(l)).toEqual(a.match(l));
  });

  it("takes a many-valued word column as a parameter and an optional aside as no column", () => {
    const m = mine([
      "alpha.exe - <*> close, 12 bytes sent",
      "close, 12 bytes sent, user alice",
      "close, 1190 bytes (1.16 KB) sent, user bob",
      "close, 7 bytes sent, user carol",
      "close, 9 bytes (9 B) sent, user dave",
      "close, 9 bytes sent, user erin",
      "connection from 10.0.0.1 (10.0.0.1) at Sun Jul 10 04:36:37 2005",
      "connection from 10.0.0.2 () at Mon Jul 11 04:36:37 2005",
    ]);
    const t = (l: string) => m.templateOf(m.observe(l)).template;
    expect(t("close, 3 bytes sent, user frank")).toBe("close, <*> bytes sent, user <*>");
    expect(t("close, 3 bytes (3 B) sent, user gina")).toBe("close, <*> bytes sent, user <*>");
    expect(t("connection from 10.0.0.3 () at Tue Jul 12 04:36:37 2005")).toBe(
      t("connection from 10.0.0.1 (10.0.0.1) at Sun Jul 10 04:36:37 2005"),
    );
  });

  it("merges templates that differ only in a many-valued first word, not in a two-valued one", () => {
    const m = mine([
      "chrome.exe opened a connection through the proxy on port 5070",
      "firefox.exe opened a connection through the proxy on port 5070",
      "Skype.exe opened a connection through the proxy on port 443",
      "outlook.exe opened a connection through the proxy on port 80",
      "Accepted password for root from 10.0.0.1 port 22 ssh2",
      "Failed password for root from 10.0.0.2 port 22 ssh2",
    ]);
    const t = (l: string) => m.templateOf(m.observe(l)).template;
    expect(t("chrome.exe opened a connection through the proxy on port 1")).toBe(
      "<*> opened a connection through the proxy on port <*>",
    );
    expect(t("Accepted password for root from 10.0.0.1 port 22 ssh2")).toBe(
      "Accepted password for root from <*> port <*>",
    );
    expect(t("Failed password for root from 10.0.0.1 port 22 ssh2")).toBe(
      "Failed password for root from <*> port <*>",
    );
  });

  it("counts lines per template", () => {
    const m = mine(lines);
    const byTemplate = new Map(m.templates().map((t) => [t.template, t.count]));
    expect(byTemplate.get("session opened for user <*> by (uid=<*>)")).toBe(5);
    expect(byTemplate.get("PacketResponder <*> for block <*> terminating")).toBe(2);
  });

  it("evicts the least recently used signatures beyond the cap", () => {
    const evicted: number[] = [];
    const m = new TemplateMiner({ maxTemplates: 10, onEvict: (sig) => evicted.push(sig) });
    const handles = Array.from({ length: 10 }, (_, i) =>
      m.observe(`event kind${String.fromCharCode(97 + i)} ok`),
    );
    // Touch the first five again: the other five are now the least recently used.
    for (let i = 0; i < 5; i++) m.observe(`event kind${String.fromCharCode(97 + i)} ok`);
    m.observe("a brand new message");
    expect(m.size).toBeLessThanOrEqual(10);
    expect(evicted.length).toBeGreaterThan(0);
    // Only never-touched-again signatures went, oldest first.
    expect(evicted).toEqual(handles.slice(5, 5 + evicted.length));
    for (const h of handles.slice(0, 5)) expect(m.templateOf(h).template).not.toBe("");
    for (let i = 0; i < 200; i++)
      m.observe(`unique message number x${"y".repeat(i % 7)} z${i % 13 === 0 ? "" : "w"}${i}`);
    expect(m.size).toBeLessThanOrEqual(10);
  });

  it("matches a new message to an existing template before the next refine", () => {
    const m = mine(lines);
    expect(m.match("PacketResponder 7 for block blk_77 terminating").template).toBe(
      "PacketResponder <*> for block <*> terminating",
    );
  });
});

describe("line parsing", () => {
  it("reads pino JSON: msg and numeric level", () => {
    const l = parseLine(
      { kind: "auto" },
      '{"level":50,"time":1700000000000,"pid":1,"msg":"db down after 3 retries"}',
    );
    expect(l).toEqual({ message: "db down after 3 retries", level: "error", matched: true });
    expect(parseLine({ kind: "auto" }, "plain text line 42").message).toBe("plain text line 42");
    expect(parseLine({ kind: "pino" }, "not json").matched).toBe(false);
    expect(parseLine({ kind: "pino" }, '{"level":30,"err":{"message":"boom"}}').message).toBe("boom");
  });

  it("splits plain lines by a Loghub format, with and without regex syntax", () => {
    const hdfs = compileLogFormat("<Date> <Time> <Pid> <Level> <Component>: <Content>");
    expect(hdfs.separators).toBeDefined(); // plain: scanned without a regex
    expect(
      parseLine(
        { kind: "format", format: hdfs },
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3 terminating",
      ),
    ).toEqual({ message: "PacketResponder 1 for block blk_3 terminating", level: "INFO", matched: true });

    const linux = compileLogFormat("<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>");
    expect(linux.separators).toBeUndefined(); // optional group: the regex path
    const f = { kind: "format" as const, format: linux };
    expect(
      parseLine(f, "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown").message,
    ).toBe("check pass; user unknown");
    expect(parseLine(f, "Jun 15 04:06:18 combo su(pam_unix): session opened").message).toBe("session opened");

    const apache = compileLogFormat("\\[<Time>\\] \\[<Level>\\] <Content>");
    const line = "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6";
    const fast = new LineParser({ kind: "format", format: apache });
    const slow = new LineParser({ kind: "format", format: { ...apache, separators: undefined } });
    fast.parse(line);
    slow.parse(line);
    expect([fast.message, fast.level]).toEqual(["mod_jk child workerEnv in error state 6", "error"]);
    expect([slow.message, slow.level]).toEqual([fast.message, fast.level]);

    const miss = parseLine({ kind: "format", format: apache }, "no brackets here");
    expect(miss).toEqual({ message: "no brackets here", level: undefined, matched: false });
  });

  it("finds a format's literals line by line in a chunk, whatever the lines before held", () => {
    const f = compileLogFormat("<Level> <Component>: <Content>");
    const lines = [
      "INFO a no colon here",
      "WARN b: has one: two",
      "INFO c no colon",
      "ERROR d:x no space after the colon",
      "INFO e: last",
      "DEBUG f no colon at all",
    ];
    const text = lines.join("\n");
    const chunk = new LineParser({ kind: "format", format: f });
    const got: unknown[] = [];
    let pos = 0;
    for (const l of lines) {
      chunk.parseRange(text, pos, pos + l.length);
      got.push([chunk.matched, chunk.message, chunk.level]);
      pos += l.length + 1;
    }
    // Each line alone (a fresh parser, nothing carried over) gives the same.
    expect(got).toEqual(
      lines.map((l) => {
        const one = parseLine({ kind: "format", format: f }, l);
        return [one.matched, one.message, one.level];
      }),
    );
    expect(got[1]).toEqual([true, "has one: two", "WARN"]);
    expect(got[3]).toEqual([false, "ERROR d:x no space after the colon", undefined]);
    expect(got[4]).toEqual([true, "last", "INFO"]);
  });
});

describe("the miner's fast path agrees with the plain path", () => {
  // The fast path (observe/observeRange: the masked message as pieces of the input, a shape cache,
  // a hash index and a code-unit comparison) must give exactly what the plain path gives: the
  // masked text as a string, looked up by string (observeKey(maskMessage(·))).
  const inline = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3 terminating",
    "PacketResponder 1 for block blk_38865049064139660 terminating",
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "session opened for user cyrus by (uid=0)",
    "close, 1190 bytes (1.16 KB) sent, size 384.0 B, free 2 GB.",
    "connection at Sun Jul 10 04:36:37 2005 from proxy.cse.example.hk:5070",
    "chip FF:F2:9F:16:E5:DC changed; caused by dcbf.........0 in C:\\Temp\\x",
    "  a \t b   c  ",
    "literal <*> and x <*> y",
    "x 1 y and x <*> y",
    "unicode naïve café 東京 😀 42",
  ];
  // The Loghub-2k reference lines too, when the conformance data is at hand (whole lines: the
  // message bodies are inside them).
  const loghub = join(
    process.env.CONFORMANCE_DIR ??
      resolve(fileURLToPath(new URL("..", import.meta.url)), "../shared/conformance"),
    "loghub2k",
  );
  const reference = existsSync(loghub)
    ? readdirSync(loghub)
        .filter((d) => existsSync(join(loghub, d, `${d}_2k.log`)))
        .flatMap((d) =>
          readFileSync(join(loghub, d, `${d}_2k.log`), "utf8")
            .split("\n")
            .filter((l) => l !== ""),
        )
    : [];
  const rnd = mulberry32(17);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const parts = [
    "a",
    "Zed",
    "x",
    "0",
    "7",
    "42",
    " ",
    "  ",
    "\t",
    ".",
    "..",
    "...",
    "/",
    "./",
    "~/",
    "\\",
    "-",
    "_",
    ":",
    "=",
    ",",
    ";",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "|",
    "@",
    "<*>",
    "<",
    ">",
    "*",
    "é",
    "東京",
    "😀",
    "AA",
    "ff",
    "KB",
    "ms",
    " ms",
    " KB",
    " sec",
    " B,",
    "Mon",
    "Jul",
    "Sept",
    "May",
    "proxy.example.org",
    "a.b.c",
    "java.io.X",
    "0x1f",
    "blk_-12",
    "10.0.0.1:80",
    "\u00a0",
    "\r",
  ];
  const words = [...new Set([...inline, ...reference.slice(0, 4000)].join(" ").split(/\s+/))];
  const random = Array.from({ length: 20_000 }, () => {
    let s = "";
    const n = 1 + Math.floor(rnd() * 14);
    for (let i = 0; i < n; i++) s += rnd() < 0.3 ? `${pick(words)} ` : pick(parts);
    return s;
  });
  const corpus = [...inline, ...reference, ...random];

  it("gives the same handles, evictions and templates, with and without a tight cap", () => {
    for (const maxTemplates of [10_000, 25]) {
      const evictedFast: number[] = [];
      const evictedPlain: number[] = [];
      const fast = new TemplateMiner({ maxTemplates, onEvict: (s) => evictedFast.push(s) });
      const plain = new TemplateMiner({ maxTemplates, onEvict: (s) => evictedPlain.push(s) });
      const a: number[] = [];
      const b: number[] = [];
      for (const line of corpus) {
        a.push(fast.observe(line));
        b.push(plain.observeKey(maskMessage(line)));
      }
      expect(a).toEqual(b);
      expect(evictedFast).toEqual(evictedPlain);
      expect(fast.templates()).toEqual(plain.templates());
      expect(fast.toJSON()).toEqual(plain.toJSON());
    }
  });

  it("finds the signatures of a restored miner by message", () => {
    const m = new TemplateMiner();
    const handles = corpus.slice(0, 3000).map((l) => m.observe(l));
    const restored = TemplateMiner.fromJSON(m.toJSON());
    const size = restored.size;
    for (const l of corpus.slice(0, 3000)) restored.observe(l);
    expect(restored.size).toBe(size); // every message found its restored signature
    expect(new Set(handles).size).toBe(size);
  });

  it("masks a range of a larger text as the same message sliced out, reading nothing outside it", () => {
    const masked = new MaskedMessage();
    const miner = new TemplateMiner();
    const sliced = new TemplateMiner();
    // Context that would change the result if it were read: digits, dots, a unit, separators.
    const around = ["", " ", "9", ".", "..", " KB", "\\", ":", "AA:", "x"];
    for (const line of corpus.slice(0, 8000)) {
      const before = pick(around);
      const text = `${before}${line}${pick(around)}`;
      const to = before.length + line.length;
      expect(masked.maskRange(text, before.length, to).toString()).toBe(maskMessage(line));
      expect(miner.observeRange(text, before.length, to)).toBe(sliced.observe(line));
    }
  });

  it("compares and hashes the pieces as the masked text", () => {
    const m = new MaskedMessage();
    const keys = corpus.map((l) => maskMessage(l));
    const byLength = new Map<number, string[]>();
    for (const k of keys) {
      const list = byLength.get(k.length);
      if (list === undefined) byLength.set(k.length, [k]);
      else list.push(k);
    }
    let equal = 0;
    const wrong: string[] = []; // collected, so that one expect reports them all
    for (let i = 0; i < corpus.length; i++) {
      const line = corpus[i] as string;
      m.mask(line);
      const text = m.toString();
      if (text !== keys[i] || m.length !== text.length || m.hash() !== hashKey(text))
        wrong.push(`text/length/hash of ${JSON.stringify(line)}`);
      if (!m.equals(keyCodes(text))) wrong.push(`not equal to its own text: ${JSON.stringify(line)}`);
      // Another key of the same length (the hard case), one at random, and near misses.
      const same = pick(byLength.get(text.length) ?? [text]);
      for (const other of [same, pick(keys), text.replace(" ", "\t"), `${text.slice(0, -1)}?`]) {
        const eq = m.equals(keyCodes(other));
        if (eq !== (other === text)) wrong.push(`${JSON.stringify(line)} vs ${JSON.stringify(other)}`);
        if (eq) equal++;
      }
    }
    expect(wrong).toEqual([]);
    expect(equal).toBeGreaterThan(corpus.length / 4);
  });

  it("gives the parser's message as a range and as a string alike", () => {
    const p = new LineParser({
      kind: "format",
      format: compileLogFormat("<Date> <Time> <Level>: <Content>"),
    });
    const text = "x\n2026-01-01 10:00:00 INFO: disk 3 full\nno match here\n";
    const second = text.indexOf("\n", 2);
    p.parseRange(text, 2, second);
    expect([p.message, p.messageText.slice(p.messageStart, p.messageEnd), p.level]).toEqual([
      "disk 3 full",
      "disk 3 full",
      "INFO",
    ]);
    p.parseRange(text, second + 1, text.length - 1);
    expect([p.message, p.matched]).toEqual(["no match here", false]);
    const auto = new LineParser({ kind: "auto" });
    auto.parseRange('a {"msg":"from json","level":40} b', 2, 32);
    expect([auto.message, auto.messageText, auto.level]).toEqual(["from json", "from json", "warn"]);
  });
});

describe("tug logs analyze", () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-logs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes one CSV row per line, in order, with quoted templates", async () => {
    const log = join(dir, "app.log");
    writeFileSync(
      log,
      [
        '{"level":30,"msg":"GET /users/17 took 12 ms"}',
        '{"level":50,"msg":"query failed, code=42 \\"users\\""}',
        '{"level":30,"msg":"GET /users/18 took 9 ms"}',
        "",
        "a bare line 7",
        '{"level":50,"msg":"query failed, code=43 \\"users\\""}',
      ].join("\n"),
    );
    const out = join(dir, "out.csv");
    let stdout = "";
    let stderr = "";
    const code = await logsCommand(
      ["analyze", log, "--output", out],
      (s) => {
        stdout += s;
      },
      (s) => {
        stderr += s;
      },
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const rows = readFileSync(out, "utf8").split("\n");
    expect(rows[0]).toBe("LineId,EventId,EventTemplate");
    expect(rows.at(-1)).toBe("");
    const body = rows.slice(1, -1);
    expect(body).toHaveLength(5);
    const get = (n: number) => /^(\d+),([0-9a-f]{16}),(.*)$/.exec(body[n - 1] as string)?.slice(1) ?? [];
    expect(get(1)[0]).toBe("1");
    expect(get(1)[2]).toBe("GET <*> took <*>");
    expect(get(3)[1]).toBe(get(1)[1]);
    expect(get(2)[2]).toBe('"query failed, code=<*> ""users"""');
    expect(get(5)[1]).toBe(get(2)[1]);
    expect(get(4)[0]).toBe("4");
    expect(get(4)[2]).toBe("a bare line <*>");
    expect(stdout).toContain("5 lines, 3 templates");
    expect(stdout).toContain("levels: info 2 (40.0%), error 2 (40.0%)");
    expect(stdout).toContain("errors: 2 lines in 1 templates");
  });

  it("uses --format and rejects bad usage", async () => {
    const log = join(dir, "plain.log");
    writeFileSync(log, "2024-01-01 10:00:00 WARN disk 91% full\n2024-01-01 10:00:05 WARN disk 93% full\n");
    let stdout = "";
    const code = await logsCommand(
      ["analyze", log, "--format", "<Date> <Time> <Level> <Content>"],
      (s) => {
        stdout += s;
      },
      () => {},
    );
    expect(code).toBe(0);
    expect(stdout).toContain("2 lines, 1 templates");
    expect(stdout).toContain("disk <*> full");
    let err = "";
    expect(
      await logsCommand(
        ["analyze"],
        () => {},
        (s) => (err += s),
      ),
    ).toBe(2);
    expect(err).toContain("usage: tug logs analyze");
    expect(
      await logsCommand(
        ["analyze", join(dir, "missing.log")],
        () => {},
        () => {},
      ),
    ).toBe(1);
  });
});
