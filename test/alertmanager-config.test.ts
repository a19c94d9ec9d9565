// alertmanager.yml as Alertmanager 0.25 reads it: matchers, time intervals, the route tree
// (defaults, inheritance, Key/ID), receivers, and a differential check against the real amtool.
// Expected values come from Alertmanager 0.25's source (pkg/labels, config, dispatch/route.go,
// timeinterval) and from amtool 0.25's own output.

import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadAlertmanagerConfig,
  parseAlertmanagerConfig,
  parsePromDuration,
} from "../src/alerts/notify/config.js";
import { matchersString, newMatcher, parseMatchers } from "../src/alerts/notify/matchers.js";
import { intervalContains, parseTimeInterval } from "../src/alerts/notify/timeinterval.js";
import type { Route } from "../src/alerts/notify/types.js";
import { ConfigError } from "../src/core/config/index.js";
import { ensurePackage } from "./support/services.js";

const FILE = "am.yml";
const parse = (text: string, secrets = {}) => parseAlertmanagerConfig(text, FILE, secrets);
const strings = (text: string) => parseMatchers(text).map(String);

/** The error a parse throws (fails the test when none is thrown). */
function parseError(text: string, secrets = {}): ConfigError {
  try {
    parse(text, secrets);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const RECEIVER_A = "receivers:\n  - name: a\n";
const minimal = (route: string, rest = RECEIVER_A) => `route:\n  receiver: a\n${route}${rest}`;

// ---------------------------------------------------------------------------------------------

describe("matchers (pkg/labels)", () => {
  it("parses the forms ParseMatchers documents", () => {
    expect(strings('{foo = "bar", dings != "bums", }')).toEqual(['foo="bar"', 'dings!="bums"']);
    expect(strings("foo=bar,dings!=bums")).toEqual(['foo="bar"', 'dings!="bums"']);
    expect(strings("foo=bar, dings!=bums")).toEqual(['foo="bar"', 'dings!="bums"']);
    expect(strings('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}')).toEqual([
      'quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""',
    ]);
    expect(strings('statuscode=~"5.."')).toEqual(['statuscode=~"5.."']);
    expect(strings('a!~"x|y"')).toEqual(['a!~"x|y"']);
  });

  it("keeps commas inside quotes and drops a trailing comma and whitespace", () => {
    expect(strings(' baz =~ "a,b" , qux="x\\"y", ')).toEqual(['baz=~"a,b"', 'qux="x\\"y"']);
    expect(strings('a="x\\\\", b=c')).toEqual(['a="x\\\\"', 'b="c"']);
  });

  it("reads odd but accepted inputs as Alertmanager does", () => {
    expect(strings("a==b")).toEqual(['a="=b"']); // the value is "=b"
    expect(strings("foo=")).toEqual(['foo=""']);
    expect(strings("ns:sub=1")).toEqual(['ns:sub="1"']); // colons are allowed in names here
    expect(strings("")).toEqual([]);
    expect(strings("{}")).toEqual([]);
    // A backslash before anything but n, " or \ is literal.
    expect(parseMatchers('a="x\\ty"')[0]?.value).toBe("x\\ty");
    expect(parseMatchers('a="x\\ny"')[0]?.value).toBe("x\ny");
    expect(() => parseMatchers('a="x\\"')).toThrow("unescaped double quote"); // the quote is escaped
  });

  it("rejects malformed matchers with Alertmanager's messages", () => {
    expect(() => parseMatchers("a=b,,c=d")).toThrow("bad matcher format: ");
    expect(() => parseMatchers("1a=b")).toThrow("bad matcher format: 1a=b");
    expect(() => parseMatchers('a=x"y')).toThrow('matcher value contains unescaped double quote: x"y');
    expect(() => parseMatchers('a="x"y')).toThrow('matcher value contains unescaped double quote: "x"y');
    expect(() => parseMatchers('a="x')).toThrow("unescaped double quote");
    expect(() => parseMatchers('a=~"("')).toThrow(/invalid regular expression in matcher a=~"\(": /);
  });

  it('prints values with OpenMetrics escaping (only \\, newline and "), as amtool 0.25 shows them', () => {
    // amtool 0.25 prints a tab and a control character raw: String() is not Go's %q.
    expect(newMatcher("x", "=", 'a\tb\u0001"c\\\n').toString()).toBe('x="a\tb\u0001\\"c\\\\\\n"');
    expect(matchersString([newMatcher("a", "=", "1"), newMatcher("b", "=~", "x")])).toBe('{a="1",b=~"x"}');
    expect(matchersString([])).toBe("{}");
  });

  it("anchors regexes and reads them as RE2", () => {
    const m = newMatcher("job", "=~", "api|web");
    expect(m.matches("api")).toBe(true);
    expect(m.matches("xapi")).toBe(false);
    expect(m.matches("")).toBe(false);
    expect(newMatcher("job", "!~", "api|web").matches("")).toBe(true);
    expect(newMatcher("job", "=~", "(?i)API").matches("api")).toBe(true);
    expect(newMatcher("job", "=~", ".*").matches("a\nb")).toBe(false); // RE2: . excludes \n
    expect(newMatcher("a", "!=", "x").matches("")).toBe(true);
  });
});

describe("durations (model.ParseDuration)", () => {
  it("accepts units in order and rejects the rest", () => {
    expect(parsePromDuration("1d2h30m")).toBe(((24 + 2) * 60 + 30) * 60_000);
    expect(parsePromDuration("1y2w3d4h5m6s7ms")).toBe(
      365 * 86_400_000 + 14 * 86_400_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6000 + 7,
    );
    expect(parsePromDuration("0")).toBe(0);
    expect(parsePromDuration("90s")).toBe(90_000);
    expect(parsePromDuration("30")).toBe('not a valid duration string: "30"');
    expect(parsePromDuration("1h1d")).toBe('not a valid duration string: "1h1d"');
    expect(parsePromDuration("1.5h")).toMatch(/not a valid/);
    expect(parsePromDuration("")).toBe("empty duration string");
    expect(parsePromDuration("300y")).toBe("duration out of range");
  });
});

// ---------------------------------------------------------------------------------------------

describe("time intervals", () => {
  const spec = (raw: unknown) => parseTimeInterval(raw, "t");
  const at = (iso: string) => new Date(iso);

  it("parses times, weekdays, days, months, years and the location", () => {
    const s = spec({
      times: [{ start_time: "09:00", end_time: "17:30" }],
      weekdays: ["Monday:friday", "sunday"],
      days_of_month: ["1:7", "-3:-1"],
      months: ["january:march", "12"],
      years: ["2024:2026", 2030],
      location: "Europe/Berlin",
    });
    expect(s).toEqual({
      times: [{ startMinute: 540, endMinute: 1050 }],
      weekdays: [
        { begin: 1, end: 5 },
        { begin: 0, end: 0 },
      ],
      daysOfMonth: [
        { begin: 1, end: 7 },
        { begin: -3, end: -1 },
      ],
      months: [
        { begin: 1, end: 3 },
        { begin: 12, end: 12 },
      ],
      years: [
        { begin: 2024, end: 2026 },
        { begin: 2030, end: 2030 },
      ],
      location: "Europe/Berlin",
    });
    expect(spec({}).location).toBe("UTC");
    expect(spec({ location: "Local" }).location).toBe("Local");
    expect(spec({ times: [{ start_time: "00:00", end_time: "24:00" }] }).times).toEqual([
      { startMinute: 0, endMinute: 1440 },
    ]);
  });

  it("rejects what Alertmanager rejects, saying where", () => {
    expect(() => spec({ times: [{ start_time: "9:00", end_time: "17:00" }] })).toThrow(
      "t.times[0].start_time: couldn't parse timestamp 9:00, invalid format",
    );
    expect(() => spec({ times: [{ start_time: "10:00", end_time: "09:00" }] })).toThrow(
      "start time cannot be equal or greater than end time",
    );
    expect(() => spec({ times: [{ start_time: "10:00" }] })).toThrow(
      "both start and end times must be provided",
    );
    expect(() => spec({ weekdays: ["friday:monday"] })).toThrow("start day cannot be before end day");
    expect(() => spec({ weekdays: ["funday"] })).toThrow("funday is not a valid weekday");
    expect(() => spec({ days_of_month: ["-3:5"] })).toThrow(
      "end day must be negative if start day is negative",
    );
    expect(() => spec({ days_of_month: ["0"] })).toThrow("0 is not a valid day of the month: out of range");
    expect(() => spec({ days_of_month: ["-1:-5"] })).toThrow("end day -5 is always before start day -1");
    expect(() => spec({ months: ["march:january"] })).toThrow("end month 1 is before start month 3");
    expect(() => spec({ years: ["2025:2024"] })).toThrow("end year 2024 is before start year 2025");
    expect(() => spec({ location: "Mars/Base" })).toThrow("unknown time zone Mars/Base");
    expect(() => spec({ time_zone: "UTC" })).toThrow("field time_zone not found"); // a later Alertmanager's key
  });

  it("evaluates times and weekdays in the interval's zone (Europe/Berlin, across DST)", () => {
    const office = [
      spec({
        times: [{ start_time: "09:00", end_time: "17:00" }],
        weekdays: ["monday:friday"],
        location: "Europe/Berlin",
      }),
    ];
    expect(intervalContains(office, at("2024-01-15T08:30:00Z"))).toBe(true); // Mon 09:30 CET
    expect(intervalContains(office, at("2024-01-15T07:59:00Z"))).toBe(false); // Mon 08:59 CET
    expect(intervalContains(office, at("2024-01-15T16:00:00Z"))).toBe(false); // Mon 17:00 CET: end excluded
    expect(intervalContains(office, at("2024-07-15T07:30:00Z"))).toBe(true); // Mon 09:30 CEST
    expect(intervalContains(office, at("2024-07-15T15:30:00Z"))).toBe(false); // Mon 17:30 CEST
    expect(intervalContains(office, at("2024-01-13T10:00:00Z"))).toBe(false); // Saturday
    expect(intervalContains(office, at("2024-01-14T23:30:00Z"))).toBe(false); // Mon 00:30 in Berlin
    // Sunday 23:30 UTC is already Monday in Berlin: weekday is taken in the zone.
    const mondays = [spec({ weekdays: ["monday"], location: "Europe/Berlin" })];
    expect(intervalContains(mondays, at("2024-01-14T23:30:00Z"))).toBe(true);
  });

  it("counts negative days from the end of the month", () => {
    const lastDay = [spec({ days_of_month: ["-1"] })];
    expect(intervalContains(lastDay, at("2024-02-29T12:00:00Z"))).toBe(true); // leap year
    expect(intervalContains(lastDay, at("2024-02-28T12:00:00Z"))).toBe(false);
    expect(intervalContains(lastDay, at("2023-02-28T12:00:00Z"))).toBe(true);
    const lastWeek = [spec({ days_of_month: ["-7:-1"] })];
    expect(intervalContains(lastWeek, at("2024-04-24T00:00:00Z"))).toBe(true);
    expect(intervalContains(lastWeek, at("2024-04-23T23:59:00Z"))).toBe(false);
    // Day 31 does not exist in February: skipped, not clamped.
    const the31st = [spec({ days_of_month: ["31"] })];
    expect(intervalContains(the31st, at("2024-02-29T12:00:00Z"))).toBe(false);
    expect(intervalContains(the31st, at("2024-03-31T12:00:00Z"))).toBe(true);
  });

  it("keeps Alertmanager's truncated month length in DST zones (March in Berlin has 743 h → 30 days)", () => {
    const lastDay = [spec({ days_of_month: ["-1"], location: "Europe/Berlin" })];
    expect(intervalContains(lastDay, at("2024-03-30T12:00:00Z"))).toBe(true);
    expect(intervalContains(lastDay, at("2024-03-31T12:00:00Z"))).toBe(false);
    // October gains an hour (745 h → 31 days): no shift.
    expect(intervalContains(lastDay, at("2024-10-31T12:00:00Z"))).toBe(true);
  });

  it("needs every present part to match and any entry of the interval", () => {
    const s = [
      spec({ months: ["december"], days_of_month: ["24:26"], years: ["2024"] }),
      spec({ months: ["january"], days_of_month: ["1"] }),
    ];
    expect(intervalContains(s, at("2024-12-25T10:00:00Z"))).toBe(true);
    expect(intervalContains(s, at("2025-12-25T10:00:00Z"))).toBe(false); // wrong year
    expect(intervalContains(s, at("2025-01-01T10:00:00Z"))).toBe(true); // second entry
    expect(intervalContains([spec({})], at("2025-01-01T10:00:00Z"))).toBe(true);
    expect(intervalContains([spec({ weekdays: [] })], at("2025-01-01T10:00:00Z"))).toBe(false); // [] never matches
    expect(intervalContains([spec({ months: ["13"] })], at("2025-01-01T10:00:00Z"))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

/** Depth-first list of [key, id] through the tree. */
function keysAndIds(r: Route): Array<[string, string]> {
  return [[r.key, r.id], ...r.routes.flatMap(keysAndIds)];
}

describe("route tree", () => {
  it("applies Alertmanager's defaults at the root", () => {
    const { config } = parse(minimal(""));
    expect(config.route.opts).toEqual({
      receiver: "a",
      groupBy: [],
      groupByAll: false,
      groupWaitMs: 30_000,
      groupIntervalMs: 300_000,
      repeatIntervalMs: 14_400_000,
      muteTimeIntervals: [],
      activeTimeIntervals: [],
    });
    expect(config.global).toEqual({
      resolveTimeoutMs: 300_000,
      smtpFrom: undefined,
      smtpSmarthost: undefined,
      smtpHello: "localhost",
      smtpAuthUsername: undefined,
      smtpAuthPassword: undefined,
      smtpRequireTls: true,
      slackApiUrl: undefined,
    });
    expect(config.route.key).toBe("{}");
    expect(config.route.id).toBe("{}");
    expect(config.route.parent).toBeUndefined();
  });

  it("inherits options from the parent, except time intervals", () => {
    const { config } = parse(`
route:
  receiver: a
  group_by: [alertname]
  group_wait: 1m
  repeat_interval: 1d2h30m
  routes:
    - matchers: [team=db]
      group_interval: 90s
      mute_time_intervals: [nights]
      routes:
        - matchers: [sub=x]
    - matchers: [team=web]
      receiver: b
      group_by: ['...']
      routes:
        - matchers: [sub=y]
          group_by: [instance]
        - matchers: [sub=z]
          group_by: []
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
receivers: [{name: a}, {name: b}]
`);
    const [db, web] = config.route.routes as [Route, Route];
    expect(db.opts).toMatchObject({
      receiver: "a",
      groupBy: ["alertname"],
      groupWaitMs: 60_000,
      groupIntervalMs: 90_000,
      repeatIntervalMs: (26 * 60 + 30) * 60_000,
      muteTimeIntervals: ["nights"],
    });
    // dispatch.NewRoute assigns mute_time_intervals rather than inheriting them.
    expect(db.routes[0]?.opts.muteTimeIntervals).toEqual([]);
    expect(db.routes[0]?.opts.groupIntervalMs).toBe(90_000);
    expect(db.routes[0]?.parent).toBe(db);
    expect(web.opts).toMatchObject({ receiver: "b", groupByAll: true });
    expect(web.routes[0]?.opts).toMatchObject({ groupBy: ["instance"], groupByAll: false });
    // `group_by: []` leaves Go's GroupBy nil: the child inherits `...`.
    expect(web.routes[1]?.opts.groupByAll).toBe(true);
    expect(config.timeIntervals.get("nights")).toHaveLength(1);
  });

  it("computes Route.Key() and Route.ID() like dispatch/route.go", () => {
    const { config } = parse(`
route:
  receiver: a
  routes:
    - matchers: ['team=~"db|api"', severity="critical"]
      routes:
        - receiver: a
    - match: {service: api}
      match_re: {env: "prod|staging"}
      continue: true
    - matchers: ['severity="critical"', 'team=~"db|api"']
${RECEIVER_A}`);
    // Matchers are sorted by name, then value, then type; match_re values appear anchored,
    // because Alertmanager builds them from the compiled regexp's String().
    expect(keysAndIds(config.route)).toEqual([
      ["{}", "{}"],
      ['{}/{severity="critical",team=~"db|api"}', '{}/{severity="critical",team=~"db|api"}/0'],
      ['{}/{severity="critical",team=~"db|api"}/{}', '{}/{severity="critical",team=~"db|api"}/{}/0'],
      ['{}/{env=~"^(?:prod|staging)$",service="api"}', '{}/{env=~"^(?:prod|staging)$",service="api"}/1'],
      // Same key as the first child; the ID tells them apart by position.
      ['{}/{severity="critical",team=~"db|api"}', '{}/{severity="critical",team=~"db|api"}/2'],
    ]);
    expect(config.route.routes[1]?.continue).toBe(true);
    expect(config.route.routes[1]?.matchers.find((m) => m.name === "env")?.matches("prod")).toBe(true);
  });

  it("sorts equal names by value, then type", () => {
    const { config } = parse(
      minimal("  routes:\n    - matchers: ['a!=\"1\"', 'a=\"1\"', 'a=\"0\"', 'a=~\"1\"']\n"),
    );
    expect(config.route.routes[0]?.key).toBe('{}/{a="0",a="1",a!="1",a=~"1"}');
  });
});

describe("configuration errors name file:line:col", () => {
  it("points at the offending node", () => {
    expect(parseError(minimal("  routes:\n    - receiver: nobody\n")).message).toBe(
      'am.yml:4:17: undefined receiver "nobody" used in route',
    );
    expect(parseError(minimal("  group_wait: 30\n")).message).toBe(
      'am.yml:3:15: route.group_wait: not a valid duration string: "30"',
    );
    expect(parseError(minimal("  matchers: [a=b]\n")).message).toBe(
      "am.yml:3:3: root route must not have any matchers",
    );
    expect(parseError(minimal("  routes:\n    - matchers: ['a=\"x']\n")).message).toBe(
      'am.yml:4:18: route.routes[0].matchers: matcher value contains unescaped double quote: "x',
    );
    expect(parseError(minimal("  reciever: b\n")).message).toBe(
      "am.yml:3:3: field reciever not found in route",
    );
    expect(parseError("route:\n  receiver: a\n  receiver: a\n").message).toMatch(
      /^am\.yml:3:3: invalid YAML: Map keys must be unique/,
    );
    expect(parseError("route: [\n").message).toMatch(/^am\.yml:\d+:\d+: invalid YAML: /);
  });

  it("rejects what Alertmanager's config.Load rejects", () => {
    const cases: Array<[string, string | RegExp]> = [
      ["", "no route provided in config"],
      ["receivers: []\n", "no route provided in config"],
      ["route:\n  group_by: [a]\n", "root route must specify a default receiver"],
      [minimal("  continue: true\n"), "cannot have continue in root route"],
      [minimal("  mute_time_intervals: [x]\n"), "root route must not have any mute time intervals"],
      [minimal("  active_time_intervals: [x]\n"), "root route must not have any active time intervals"],
      [minimal("  routes:\n    - active_time_intervals: [x]\n"), 'undefined time interval "x" used in route'],
      [minimal("", `${RECEIVER_A}  - name: a\n`), 'notification config name "a" is not unique'],
      [minimal("", "receivers:\n  - webhook_configs: []\n"), "missing name in receiver"],
      [minimal("  group_by: ['...', a]\n"), "cannot have wildcard group_by"],
      [minimal("  group_by: [a, a]\n"), 'duplicated label "a" in group_by'],
      [minimal("  group_by: ['a:b']\n"), 'invalid label name "a:b" in group_by list'],
      [minimal("  group_interval: 0s\n"), "group_interval cannot be zero"],
      [minimal("  repeat_interval: 0\n"), "repeat_interval cannot be zero"],
      [minimal("  routes:\n    - continue: 'true'\n"), "route.routes[0].continue must be a boolean"],
      [minimal("  routes:\n    - match: {a-b: x}\n"), 'invalid label name "a-b"'],
      [minimal("  routes:\n    - match_re: {a: '('}\n"), "invalid regular expression"],
      [minimal("", `inhibit_rules:\n  - equal: [a-b]\n${RECEIVER_A}`), '"a-b" is not a valid label name'],
      [minimal("", `inhibit_rules:\n  - name: x\n${RECEIVER_A}`), "field name not found in inhibit_rules[0]"],
      [minimal("", `global:\n  foo: 1\n${RECEIVER_A}`), "field foo not found in global"],
      [
        minimal("", `mute_time_intervals: [{name: x}]\ntime_intervals: [{name: x}]\n${RECEIVER_A}`),
        'time interval "x" is not unique',
      ],
      [minimal("", `time_intervals: [{time_intervals: []}]\n${RECEIVER_A}`), "missing name in time interval"],
      [
        minimal(
          "",
          `time_intervals:\n  - name: x\n    time_intervals: [{weekdays: [funday]}]\n${RECEIVER_A}`,
        ),
        /^am\.yml:5:22: time interval "x" time_intervals\[0\]\.weekdays\[0\]: funday is not a valid weekday$/,
      ],
    ];
    for (const [text, message] of cases) expect(parseError(text).message).toMatch(message);
  });
});

// ---------------------------------------------------------------------------------------------

describe("inhibit rules", () => {
  it("combines matchers with the deprecated match forms", () => {
    const { config } = parse(`
inhibit_rules:
  - source_matchers: [alertname=DatabaseDown]
    target_matchers: ['alertname="HighErrorRate"']
    equal: [service]
  - source_match: {severity: critical}
    source_match_re: {team: "db|api"}
    target_match: {severity: warning}
    target_match_re: {alertname: "High.*"}
    equal: [alertname, service]
${minimal("")}`);
    const [first, second] = config.inhibitRules;
    expect(first?.sourceMatchers.map(String)).toEqual(['alertname="DatabaseDown"']);
    expect(first?.targetMatchers.map(String)).toEqual(['alertname="HighErrorRate"']);
    expect(first?.equal).toEqual(["service"]);
    expect(second?.sourceMatchers.map(String)).toEqual(['severity="critical"', 'team=~"^(?:db|api)$"']);
    expect(second?.targetMatchers.find((m) => m.name === "alertname")?.matches("HighCpuUsage")).toBe(true);
    expect(second?.equal).toEqual(["alertname", "service"]);
  });
});

describe("receivers", () => {
  const email = (cfg: string, global = "") =>
    `${global ? `global:\n${global}` : ""}route:\n  receiver: a\nreceivers:\n  - name: a\n    email_configs:\n${cfg}`;

  it("fills email settings from the receiver, then the environment (host, sender), then global", () => {
    const { config } = parse(
      email(
        "      - to: ops@example.com\n        headers: {subject: Down, x-team_name: db}\n      - to: b@example.com\n        from: me@example.com\n        smarthost: 'mx:25'\n        hello: box\n        require_tls: false\n        auth_username: own\n        auth_password: ownpw\n",
        "  smtp_smarthost: 'smtp.example.com:587'\n  smtp_require_tls: false\n",
      ),
      {
        smtp: {
          host: "relay.internal",
          port: 2525,
          username: "envuser",
          password: "envpw",
          from: "env@example.com",
        },
      },
    );
    const [first, second] = config.receivers.get("a")?.emailConfigs ?? [];
    expect(first).toEqual({
      sendResolved: false,
      to: "ops@example.com",
      from: "env@example.com",
      smarthost: "relay.internal:2525",
      hello: "localhost",
      authUsername: "envuser",
      authPassword: "envpw",
      requireTls: false,
      headers: { Subject: "Down", "X-Team_name": "db" },
    });
    expect(second).toMatchObject({
      from: "me@example.com",
      smarthost: "mx:25",
      hello: "box",
      requireTls: false,
      authUsername: "own",
      authPassword: "ownpw",
    });
    const fromSecrets = parse(email("      - to: x@example.com\n"), {
      smtp: { host: "relay", from: "f@example.com" },
    });
    expect(fromSecrets.config.receivers.get("a")?.emailConfigs[0]).toMatchObject({
      smarthost: "relay:587",
      requireTls: true,
    });
  });

  it("names the receiver when no smarthost or sender results", () => {
    expect(parseError(email("      - to: x@example.com\n")).message).toBe(
      'am.yml:6:9: receiver "a": no SMTP smarthost: set smarthost, global.smtp_smarthost or SMTP_HOST',
    );
    expect(parseError(email("      - to: x@example.com\n        smarthost: 'h:25'\n")).message).toMatch(
      /receiver "a": no SMTP from address/,
    );
    expect(parseError(email("      - smarthost: 'h:25'\n")).message).toMatch(
      "missing to address in email config",
    );
    expect(parseError(email("      - to: x\n        from: f\n        smarthost: h\n")).message).toMatch(
      "address h: missing port in address",
    );
    expect(
      parseError(
        email(
          "      - to: x\n        from: f\n        smarthost: 'h:1'\n        headers: {subject: a, Subject: b}\n",
        ),
      ).message,
    ).toMatch('duplicate header "Subject" in email config');
  });

  it("reads the SMTP password file and falls back to SMTP_PASSWORD when it is unreadable here", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tug-am-"));
    try {
      await writeFile(join(dir, "pw"), "filepw\n");
      const base = "  smtp_smarthost: 'h:25'\n  smtp_from: f@example.com\n";
      const withFile = parse(
        email("      - to: x\n", `${base}  smtp_auth_password_file: ${join(dir, "pw")}\n`),
        {
          smtp: { password: "envpw" },
        },
      );
      expect(withFile.config.receivers.get("a")?.emailConfigs[0]?.authPassword).toBe("filepw");
      const missing = parse(
        email("      - to: x\n", `${base}  smtp_auth_password_file: ${join(dir, "nope")}\n`),
        {
          smtp: { password: "envpw" },
        },
      );
      expect(missing.config.receivers.get("a")?.emailConfigs[0]?.authPassword).toBe("envpw");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const slack = (cfg: string, global = "") =>
    `${global ? `global:\n${global}` : ""}route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs:\n${cfg}`;

  it("takes the Slack URL from the config, global, its file, then SLACK_WEBHOOK_URL", async () => {
    const own = parse(slack("      - api_url: https://hooks.example.com/own\n"), {
      slackWebhookUrl: "https://env/x",
    });
    expect(own.config.receivers.get("a")?.slackConfigs[0]?.apiUrl).toBe("https://hooks.example.com/own");
    const global = parse(slack("      - channel: '#c'\n", "  slack_api_url: https://hooks.example.com/g\n"));
    expect(global.config.receivers.get("a")?.slackConfigs[0]).toEqual({
      sendResolved: false,
      apiUrl: "https://hooks.example.com/g",
      channel: "#c",
      linkNames: false,
      mrkdwnIn: [],
      fields: [],
      shortFields: false,
    });
    const env = parse(slack("      - channel: '#c'\n"), { slackWebhookUrl: "https://env.example.com/x" });
    expect(env.config.receivers.get("a")?.slackConfigs[0]?.apiUrl).toBe("https://env.example.com/x");

    const dir = await mkdtemp(join(tmpdir(), "tug-am-"));
    try {
      await writeFile(join(dir, "url"), "https://file.example.com/x\n");
      const fromFile = parse(
        slack("      - channel: '#c'\n", `  slack_api_url_file: ${join(dir, "url")}\n`),
        {
          slackWebhookUrl: "https://env.example.com/x",
        },
      );
      expect(fromFile.config.receivers.get("a")?.slackConfigs[0]?.apiUrl).toBe("https://file.example.com/x");
      const unreadable = parse(
        slack("      - channel: '#c'\n", `  slack_api_url_file: ${join(dir, "none")}\n`),
      );
      expect(unreadable.config.receivers.get("a")?.slackConfigs[0]?.apiUrl).toBeUndefined();
      expect(unreadable.warnings).toEqual([expect.stringMatching(/SLACK_WEBHOOK_URL is not set/)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(parseError(slack("      - channel: '#c'\n")).message).toMatch(/no Slack API URL/);
  });

  it("keeps literal Slack overrides and rejects Go templates in any text field", () => {
    const { config } = parse(
      slack(
        "      - api_url: https://h.example.com/x\n        title: Alert\n        title_link: https://x\n        color: danger\n        link_names: true\n        short_fields: yes\n        mrkdwn_in: [text]\n        fields: [{title: Runbook, value: 'https://wiki', short: true}]\n        send_resolved: true\n",
      ),
    );
    expect(config.receivers.get("a")?.slackConfigs[0]).toMatchObject({
      title: "Alert",
      titleLink: "https://x",
      color: "danger",
      linkNames: true,
      shortFields: true,
      sendResolved: true,
      mrkdwnIn: ["text"],
      fields: [{ title: "Runbook", value: "https://wiki", short: true }],
    });
    expect(
      parseError(slack("      - api_url: https://h.example.com/x\n        title: '{{ .Status }}'\n")).message,
    ).toBe(
      'am.yml:7:16: receiver "a" slack_configs[0].title: custom notification templates are not supported by the embedded notifier; remove it to use Alertmanager\'s default',
    );
    expect(
      parseError(
        slack("      - api_url: https://h.example.com/x\n        fields: [{title: a, value: '{{ .X }}'}]\n"),
      ).message,
    ).toMatch("slack_configs[0].fields[0].value: custom notification templates");
    expect(
      parseError(
        email(
          "      - to: x\n        from: f\n        smarthost: 'h:1'\n        headers: {Subject: '{{ .X }}'}\n",
        ),
      ).message,
    ).toMatch("email_configs[0].headers.Subject: custom notification templates");
    expect(
      parseError(
        email("      - to: x\n        from: f\n        smarthost: 'h:1'\n        html: '<b>hi</b>'\n"),
      ).message,
    ).toMatch("custom email bodies are not supported");
    expect(parseError(slack("      - api_url: https://h/x\n        fields: [{title: a}]\n")).message).toMatch(
      "missing value in Slack field configuration",
    );
    expect(parseError(slack("      - api_url: https://h/x\n        api_url_file: /x\n")).message).toMatch(
      "at most one of api_url & api_url_file must be configured",
    );
  });

  it("reads webhooks with Alertmanager's defaults", () => {
    const { config } = parse(
      "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: http://127.0.0.1:9/x\n      - url: https://h/y\n        max_alerts: 10\n        send_resolved: false\n",
    );
    expect(config.receivers.get("a")?.webhookConfigs).toEqual([
      { sendResolved: true, url: "http://127.0.0.1:9/x", maxAlerts: 0 },
      { sendResolved: false, url: "https://h/y", maxAlerts: 10 },
    ]);
    const wh = (cfg: string) =>
      `route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n${cfg}`;
    expect(parseError(wh("      - max_alerts: 1\n")).message).toMatch("missing URL in webhook config");
    expect(parseError(wh("      - url: http:///x\n")).message).toMatch("missing host for URL");
    expect(parseError(wh("      - url: http://h/\n        max_alerts: -1\n")).message).toMatch(
      "must be a non-negative integer",
    );
    expect(parseError(wh("      - url_file: /x\n")).message).toMatch("field url_file not found"); // not in 0.25
  });

  it("warns about integrations it does not implement and about templates", () => {
    const { config, warnings } = parse(`
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: a
receivers:
  - name: a
    pagerduty_configs: [{routing_key: abc}]
    webhook_configs: [{url: 'http://h/'}]
`);
    expect(config.receivers.get("a")?.webhookConfigs).toHaveLength(1);
    expect(warnings).toEqual([
      'am.yml:7:5: receiver "a": pagerduty_configs is not implemented by the embedded notifier; ignored',
      "am.yml:2:1: templates are not loaded by the embedded notifier, which uses Alertmanager's default templates",
    ]);
    // Microsoft Teams arrived after 0.25: an unknown field there, and here.
    expect(parseError(minimal("", "receivers:\n  - name: a\n    msteams_configs: []\n")).message).toMatch(
      "field msteams_configs not found",
    );
  });

  it("never puts secrets in error messages", () => {
    const secretUrl = "ftp://T000SECRET:B000SECRET@hooks.example.com/services/XSECRET";
    const a = parseError(slack(`      - api_url: '${secretUrl}'\n`));
    expect(a.message).not.toMatch(/SECRET/);
    const b = parseError(
      email(
        "      - to: x\n",
        "  smtp_smarthost: 'h:1'\n  smtp_from: f\n  smtp_auth_password: hunter2SECRET\n  smtp_auth_password_file: /x\n",
      ),
    );
    expect(b.message).toMatch("at most one of smtp_auth_password & smtp_auth_password_file");
    expect(b.message).not.toMatch(/SECRET/);
    const c = parseError(slack("      - api_url: 'hooks.slack.com/services/XSECRET'\n"));
    expect(c.message).not.toMatch(/SECRET/);
  });
});

// ---------------------------------------------------------------------------------------------
// The project's file, and the real amtool

const run = (cmd: string, args: string[]) =>
  new Promise<{ code: number; output: string }>((done) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      done({ code, output: `${stdout}${stderr}` });
    });
  });

describe("monitoring/alertmanager.yml and amtool 0.25", () => {
  let amtool: string;
  let dir: string;

  beforeAll(async () => {
    amtool = await ensurePackage("amtool", "prometheus-alertmanager");
    dir = await mkdtemp(join(tmpdir(), "tug-amtool-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is accepted by amtool check-config", async () => {
    const { code, output } = await run(amtool, ["check-config", "monitoring/alertmanager.yml"]);
    expect(output).toMatch("SUCCESS");
    expect(code).toBe(0);
  });

  it("routes critical alerts to oncall and inhibits as documented", () => {
    const { config, warnings } = loadAlertmanagerConfig("monitoring/alertmanager.yml", {
      slackWebhookUrl: "https://hooks.slack.com/services/T/B/X",
      smtp: { username: "u", password: "p" },
    });
    expect(warnings).toEqual([]);
    expect(config.route.opts).toMatchObject({
      receiver: "default",
      groupBy: ["alertname", "service"],
      groupWaitMs: 10_000,
      groupIntervalMs: 60_000,
      repeatIntervalMs: 4 * 3_600_000,
    });
    expect(keysAndIds(config.route)).toEqual([
      ["{}", "{}"],
      // The stack's escalation intake (docs/escalation.md), with continue: the others as before.
      ['{}/{severity="critical"}', '{}/{severity="critical"}/0'],
      ['{}/{alertname=~"Deployment.*"}', '{}/{alertname=~"Deployment.*"}/1'],
      [
        '{}/{alertname=~"Deployment.*"}/{severity="critical"}',
        '{}/{alertname=~"Deployment.*"}/{severity="critical"}/0',
      ],
      ['{}/{severity="critical"}', '{}/{severity="critical"}/2'],
    ]);
    expect(config.route.routes[0]?.continue).toBe(true);
    expect(config.route.routes[0]?.opts.receiver).toBe("tug-escalation");
    // Deployment outcomes: one message per deployment, a failure to on-call.
    const deployments = config.route.routes[1];
    expect(deployments?.opts).toMatchObject({
      receiver: "default",
      groupBy: ["alertname", "service", "deployment_id"],
      repeatIntervalMs: 24 * 3_600_000,
    });
    expect(deployments?.routes[0]?.opts.receiver).toBe("oncall");
    expect(config.route.routes[2]?.opts.receiver).toBe("oncall");
    const oncall = config.receivers.get("oncall");
    expect(oncall?.emailConfigs[0]).toMatchObject({
      to: "oncall@example.com",
      sendResolved: true,
      authPassword: "p",
    });
    expect(oncall?.slackConfigs[0]).toMatchObject({
      channel: "#alerts",
      sendResolved: true,
      apiUrl: "https://hooks.slack.com/services/T/B/X",
    });
    // No integration yet on the default receiver: shown and logged once per group, nothing sent.
    expect(config.receivers.get("default")).toMatchObject({
      webhookConfigs: [],
      emailConfigs: [],
      slackConfigs: [],
    });
    expect(
      config.inhibitRules.map((r) => [r.sourceMatchers.map(String), r.targetMatchers.map(String), r.equal]),
    ).toEqual([
      [['alertname="DatabaseDown"'], ['alertname="HighErrorRate"'], ["service"]],
      [['severity="critical"'], ['severity="warning"'], ["alertname", "service"]],
    ]);
  });

  it("prints the same matcher strings as amtool's route tree", async () => {
    const text = `
route:
  receiver: a
  routes:
    - matchers: ['x="a\tb\\\\c\\"d"', 'b=~"q|r"', 'a=z']
      routes:
        - match: {foo: bar}
          match_re: {foo: "b.*"}
    - receiver: a
${RECEIVER_A}`;
    const file = join(dir, "tree.yml");
    await writeFile(file, text);
    const { output } = await run(amtool, ["config", "routes", "--config.file", file]);
    const slugs = output
      .split("\n")
      .map((l) => /── (.*) {2}receiver: /.exec(l)?.[1])
      .filter((s): s is string => s !== undefined);
    const ours: string[] = [];
    const walk = (r: Route) => {
      ours.push(r.matchers.length === 0 ? "default-route" : (r.key.split("/").at(-1) as string));
      r.routes.forEach(walk);
    };
    walk(parse(text).config.route);
    expect(slugs).toEqual(ours);
    expect(ours[1]).toBe('{a="z",b=~"q|r",x="a\tb\\\\c\\"d"}');
  });

  // Each file: amtool's verdict must equal ours (no secrets passed, as amtool has none).
  const differential: Array<[string, boolean, string]> = [
    ["unknown receiver", false, minimal("  routes:\n    - receiver: b\n")],
    ["bad matcher", false, minimal("  routes:\n    - matchers: ['a=\"b']\n")],
    ["bad matcher regex", false, minimal("  routes:\n    - matchers: ['a=~\"(\"']\n")],
    ["bad duration", false, minimal("  group_wait: 30\n")],
    ["units out of order", false, minimal("  group_wait: 1h1d\n")],
    ["root route with matchers", false, minimal("  matchers: ['a=b']\n")],
    ["root route with match", false, minimal("  match: {a: b}\n")],
    ["continue at the root", false, minimal("  continue: true\n")],
    ["unknown field", false, minimal("  foo: 1\n")],
    ["quoted boolean", false, minimal("  routes:\n    - continue: 'true'\n")],
    ["duplicate key", false, "route:\n  receiver: a\n  receiver: a\nreceivers:\n  - name: a\n"],
    ["duplicate receiver", false, minimal("", `${RECEIVER_A}  - name: a\n`)],
    [
      "email without to",
      false,
      minimal("", "receivers:\n  - name: a\n    email_configs: [{smarthost: 'h:1', from: f}]\n"),
    ],
    [
      "email without smarthost",
      false,
      minimal("", "receivers:\n  - name: a\n    email_configs: [{to: x, from: f}]\n"),
    ],
    [
      "negative max_alerts",
      false,
      minimal("", "receivers:\n  - name: a\n    webhook_configs: [{url: 'http://h/', max_alerts: -1}]\n"),
    ],
    [
      "webhook without host",
      false,
      minimal("", "receivers:\n  - name: a\n    webhook_configs: [{url: 'http:///x'}]\n"),
    ],
    [
      "slack field without value",
      false,
      minimal(
        "",
        "receivers:\n  - name: a\n    slack_configs: [{api_url: 'https://h/', fields: [{title: t}]}]\n",
      ),
    ],
    ["msteams (after 0.25)", false, minimal("", "receivers:\n  - name: a\n    msteams_configs: []\n")],
    [
      "time_zone (after 0.25)",
      false,
      minimal("", `time_intervals: [{name: t, time_intervals: [{time_zone: UTC}]}]\n${RECEIVER_A}`),
    ],
    [
      "bad time",
      false,
      minimal(
        "",
        `time_intervals: [{name: t, time_intervals: [{times: [{start_time: '9:00', end_time: '10:00'}]}]}]\n${RECEIVER_A}`,
      ),
    ],
    [
      "bad zone",
      false,
      minimal("", `time_intervals: [{name: t, time_intervals: [{location: Mars/Base}]}]\n${RECEIVER_A}`),
    ],
    ["undefined time interval", false, minimal("  routes:\n    - mute_time_intervals: [x]\n")],
    ["wildcard and labels", false, minimal("  group_by: ['...', a]\n")],
    ["bad equal label", false, minimal("", `inhibit_rules: [{equal: ['a-b']}]\n${RECEIVER_A}`)],
    ["zero group_interval", false, minimal("  group_interval: 0s\n")],
    ["no route", false, RECEIVER_A],
    [
      "odd matchers",
      true,
      minimal("  routes:\n    - matchers: ['a==b', 'foo=', '{bar!=\"\",}', ' baz =~ \"a,b\" ']\n"),
    ],
    [
      "YAML 1.1 booleans",
      true,
      minimal(
        "  routes:\n    - continue: on\n",
        "receivers:\n  - name: a\n    webhook_configs: [{url: 'http://h/', send_resolved: no}]\n",
      ),
    ],
    ["every duration unit", true, minimal("  group_wait: 1y2w3d4h5m6s7ms\n")],
    [
      "lenient interval values",
      true,
      minimal(
        "",
        `time_intervals: [{name: t, time_intervals: [{years: [2023], months: ['13'], days_of_month: [1, -1]}]}]\n${RECEIVER_A}`,
      ),
    ],
    [
      "unreadable slack_api_url_file",
      true,
      minimal(
        "",
        "global:\n  slack_api_url_file: /nonexistent/slack\nreceivers:\n  - name: a\n    slack_configs: [{channel: '#c'}]\n",
      ),
    ],
    [
      "other integrations",
      true,
      minimal("", "receivers:\n  - name: a\n    pagerduty_configs: [{routing_key: x}]\n"),
    ],
    ["group_by all", true, minimal("  group_by: ['...']\n")],
  ];

  it.each(differential)("%s: amtool and the embedded parser agree", async (name, valid, text) => {
    const file = join(dir, `${name.replace(/\W+/g, "_")}.yml`);
    await writeFile(file, text);
    const { code, output } = await run(amtool, ["check-config", file]);
    expect({ amtool: code === 0, output: code === 0 ? "" : output.trim().split("\n")[0] }).toMatchObject({
      amtool: valid,
    });
    let ours: unknown = "accepted";
    try {
      parseAlertmanagerConfig(text, file);
    } catch (err) {
      ours = err;
    }
    if (valid) expect(ours).toBe("accepted");
    else expect(ours).toBeInstanceOf(ConfigError);
  });
});

describe("a route that is its own child through a YAML alias", () => {
  it("is a ConfigError with file:line, not a stack overflow", () => {
    expect(() =>
      parseAlertmanagerConfig(
        "route: &r\n  receiver: x\n  routes: [*r]\nreceivers:\n  - name: x\n",
        "am.yml",
      ),
    ).toThrow(/^am\.yml:3:\d+: routes nest more than 100 deep/);
  });
});
