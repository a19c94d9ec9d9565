// Template miner: masking, stable ids, persistence, LRU cap, line parsing, and the
// `tug logs analyze` CSV.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
