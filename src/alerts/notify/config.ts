// monitoring/alertmanager.yml read as Alertmanager 0.25 reads it (config/config.go,
// config/notifiers.go, dispatch/route.go), for the embedded notifier. The same file also feeds a
// real Alertmanager, so this parser is strict where Alertmanager is strict (unknown keys, bad
// durations, undefined receivers...) and only warns about what Alertmanager accepts but the
// embedded notifier does not implement. Every error names file:line:col; secrets never appear.

import { readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError } from "../../core/config/index.js";
import { matchersString, newMatcher, parseMatchers, sortMatchers } from "./matchers.js";
import { parseTimeInterval } from "./timeinterval.js";
import type {
  AlertmanagerConfig,
  EmailConfig,
  GlobalConfig,
  InhibitRule,
  Matcher,
  Receiver,
  Route,
  RouteOpts,
  SlackConfig,
  TimeIntervalSpec,
  WebhookConfig,
} from "./types.js";

export interface NotifierSecrets {
  /** SLACK_WEBHOOK_URL: used when the file gives no Slack URL the embedded notifier can read. */
  slackWebhookUrl?: string;
  /** SMTP_*: fill what neither the email config nor `global` sets. */
  smtp?: { host?: string; port?: number; username?: string; password?: string; from?: string };
}

export interface LoadedAlertmanagerConfig {
  config: AlertmanagerConfig;
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// YAML access with positions

type YNode = Node | null | undefined;

/** One mapping entry: the key node (for "unknown field" errors) and the value node. */
interface Entry {
  key: Node;
  value: YNode;
}

class Reader {
  readonly warnings: string[] = [];

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  at(node: YNode, fallback?: YNode): string {
    const offset = node?.range?.[0] ?? fallback?.range?.[0];
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  fail(node: YNode, message: string): never {
    throw new ConfigError(`${this.at(node)}: ${message}`);
  }

  warn(node: YNode, message: string): void {
    this.warnings.push(`${this.at(node)}: ${message}`);
  }

  deref(node: YNode): YNode {
    return isAlias(node) ? (node.resolve(this.doc) as YNode) : node;
  }

  /** yaml.v2 (YAML 1.1) null: absent, empty, `~` or `null` written plain. */
  isNull(node: YNode): boolean {
    const n = this.deref(node);
    if (n === null || n === undefined) return true;
    return isScalar(n) && n.type === "PLAIN" && ["", "~", "null", "Null", "NULL"].includes(String(n.value));
  }

  /**
   * A mapping's entries by key, checked against `allowed` like yaml.v2's UnmarshalStrict;
   * `<<` merge keys are expanded (explicit keys win).
   */
  mapping(node: YNode, what: string, allowed: readonly string[]): Map<string, Entry> {
    const out = new Map<string, Entry>();
    const n = this.deref(node);
    if (this.isNull(n)) return out;
    if (!isMap(n)) this.fail(n, `${what} must be a mapping`);
    const merged: Node[] = [];
    for (const pair of n.items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : "";
      if (name === "<<" && isScalar(key) && key.type === "PLAIN") {
        const v = this.deref(pair.value as YNode);
        if (isSeq(v)) for (const item of v.items) merged.push(item as Node);
        else if (v) merged.push(v);
        continue;
      }
      if (!allowed.includes(name)) this.fail(key, `field ${name} not found in ${what}`);
      out.set(name, { key, value: pair.value as YNode });
    }
    for (const source of merged) {
      for (const [name, entry] of this.mapping(source, what, allowed))
        if (!out.has(name)) out.set(name, entry);
    }
    return out;
  }

  /** A string field: any scalar (yaml.v2 decodes numbers and booleans into strings too). */
  str(node: YNode, what: string): string {
    const n = this.deref(node);
    if (this.isNull(n)) return "";
    if (!isScalar(n)) this.fail(n, `${what} must be a string, not a ${isSeq(n) ? "list" : "mapping"}`);
    return String(n.value);
  }

  /** YAML 1.1 booleans as yaml.v2 resolves them; a quoted "true" is a string, as in Go. */
  bool(node: YNode, what: string): boolean | undefined {
    const n = this.deref(node);
    if (this.isNull(n)) return undefined;
    const text = isScalar(n) ? String(n.value) : "";
    if (isScalar(n) && n.type === "PLAIN") {
      if (/^(y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON)$/.test(text)) return true;
      if (/^(n|N|no|No|NO|false|False|FALSE|off|Off|OFF)$/.test(text)) return false;
    }
    return this.fail(n, `${what} must be a boolean (true or false)`);
  }

  uint(node: YNode, what: string): number | undefined {
    const n = this.deref(node);
    if (this.isNull(n)) return undefined;
    const text = isScalar(n) && n.type === "PLAIN" ? String(n.value) : "";
    if (!/^\+?[0-9][0-9_]*$/.test(text)) this.fail(n, `${what} must be a non-negative integer`);
    return Number(text.replace(/[_+]/g, ""));
  }

  list(node: YNode, what: string): Node[] {
    const n = this.deref(node);
    if (this.isNull(n)) return [];
    if (!isSeq(n)) this.fail(n, `${what} must be a list`);
    return n.items as Node[];
  }

  /** `null` for an absent list, so callers can tell "not set" from "set to []". */
  strList(node: YNode, what: string): Array<{ node: Node; value: string }> | undefined {
    if (this.isNull(node)) return undefined;
    return this.list(node, what).map((item, i) => ({ node: item, value: this.str(item, `${what}[${i}]`) }));
  }

  strMap(node: YNode, what: string): Array<{ key: Node; name: string; value: string; valueNode: YNode }> {
    const n = this.deref(node);
    if (this.isNull(n)) return [];
    if (!isMap(n)) this.fail(n, `${what} must be a mapping`);
    return n.items.map((pair) => {
      const key = pair.key as Node;
      const name = this.str(key, `${what} key`);
      return {
        key,
        name,
        value: this.str(pair.value as YNode, `${what}.${name}`),
        valueNode: pair.value as YNode,
      };
    });
  }

  duration(node: YNode, what: string): number | undefined {
    if (this.isNull(node)) return undefined;
    const text = this.str(node, what);
    const ms = parsePromDuration(text);
    if (typeof ms === "string") this.fail(this.deref(node), `${what}: ${ms}`);
    return ms;
  }

  /** The document's top-level node. */
  root(): YNode {
    return this.doc.contents as YNode;
  }

  /** Plain data for parts handed to helpers that take parsed YAML (time intervals). */
  toJS(node: YNode): unknown {
    const n = this.deref(node);
    return n ? n.toJS(this.doc) : null;
  }
}

// ---------------------------------------------------------------------------------------------
// Value syntaxes

const DURATION_RE = /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
const DURATION_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];
// time.Duration is int64 nanoseconds: about 292 years.
const MAX_DURATION_MS = 9_223_372_036_854;

/** Prometheus model.ParseDuration (units in order y w d h m s ms; "0" alone). Error text on failure. */
export function parsePromDuration(s: string): number | string {
  if (s === "0") return 0;
  if (s === "") return "empty duration string";
  const m = DURATION_RE.exec(s);
  if (!m) return `not a valid duration string: ${JSON.stringify(s)}`;
  let ms = 0;
  DURATION_UNITS_MS.forEach((unit, i) => {
    const n = m[2 + 2 * i];
    if (n !== undefined) ms += Number(n) * unit;
  });
  return ms > MAX_DURATION_MS ? "duration out of range" : ms;
}

// model.LabelName.IsValid / LabelNameRE in the prometheus/common that Alertmanager 0.25 uses.
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Go's url.Parse plus Alertmanager's parseURL checks (http/https, a host). Hand-rolled because
 * WHATWG URL parsing differs (it reads `http:///x` as host "x"). Messages never echo the URL.
 */
function urlProblem(s: string, secret: boolean): string | undefined {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(s)?.[1]?.toLowerCase() ?? "";
  if (scheme !== "http" && scheme !== "https") {
    return secret
      ? "unsupported scheme for URL (want http or https)"
      : `unsupported scheme ${JSON.stringify(scheme)} for URL`;
  }
  const rest = s.slice(scheme.length + 1);
  const authority = rest.startsWith("//") ? (/^\/\/([^/?#]*)/.exec(rest)?.[1] ?? "") : "";
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  if (host === "") return "missing host for URL";
  if (/\s/.test(s)) return "invalid character in URL";
  return undefined;
}

/** Go's net.SplitHostPort plus Alertmanager's "port cannot be empty". */
function hostPortProblem(s: string): string | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:[\]]*)$/.exec(s);
  if (!m) {
    if (!s.includes(":")) return `address ${s}: missing port in address`;
    return `address ${s}: too many colons in address`;
  }
  if (m[3] === "") return `address ${JSON.stringify(s)}: port cannot be empty`;
  return undefined;
}

/** Go's strings.Title as Alertmanager applies it to email header names. */
function titleCase(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, sep: string, c: string) => sep + c.toUpperCase());
}

const TEMPLATE_MARK = "{{";

// ---------------------------------------------------------------------------------------------
// global

const INTEGRATION_GLOBALS = [
  "pagerduty_url",
  "opsgenie_api_url",
  "opsgenie_api_key",
  "opsgenie_api_key_file",
  "wechat_api_url",
  "wechat_api_secret",
  "wechat_api_corp_id",
  "victorops_api_url",
  "victorops_api_key",
  "victorops_api_key_file",
  "telegram_api_url",
  "webex_api_url",
];
const GLOBAL_URLS = [
  "pagerduty_url",
  "opsgenie_api_url",
  "wechat_api_url",
  "victorops_api_url",
  "telegram_api_url",
  "webex_api_url",
];
const GLOBAL_KEYS = [
  "resolve_timeout",
  "http_config",
  "smtp_from",
  "smtp_hello",
  "smtp_smarthost",
  "smtp_auth_username",
  "smtp_auth_password",
  "smtp_auth_password_file",
  "smtp_auth_secret",
  "smtp_auth_identity",
  "smtp_require_tls",
  "slack_api_url",
  "slack_api_url_file",
  ...INTEGRATION_GLOBALS,
];

interface ParsedGlobal {
  global: GlobalConfig;
  /** Where the Slack URL comes from when a slack config sets none (Alertmanager's inheritance). */
  slackApiUrlFile?: { path: string; node: Node };
  smtpAuthPasswordFile?: { path: string; node: Node };
  slackUrlConfigured: boolean;
}

function parseGlobal(r: Reader, node: YNode): ParsedGlobal {
  const g = r.mapping(node, "global", GLOBAL_KEYS);
  const val = (k: string) => g.get(k)?.value;
  const opt = (k: string) => r.str(val(k), `global.${k}`) || undefined;

  for (const k of GLOBAL_URLS) {
    const u = opt(k);
    const problem = u === undefined ? undefined : urlProblem(u, false);
    if (problem) r.fail(r.deref(val(k)), `global.${k}: ${problem}`);
  }
  const exclusive = (a: string, b: string) => {
    if (opt(a) !== undefined && opt(b) !== undefined) {
      r.fail(g.get(b)?.key, `at most one of ${a} & ${b} must be configured`);
    }
  };
  exclusive("slack_api_url", "slack_api_url_file");
  exclusive("opsgenie_api_key", "opsgenie_api_key_file");
  exclusive("victorops_api_key", "victorops_api_key_file");
  exclusive("smtp_auth_password", "smtp_auth_password_file");

  const smarthost = opt("smtp_smarthost");
  const hostProblem = smarthost === undefined ? undefined : hostPortProblem(smarthost);
  if (hostProblem) r.fail(r.deref(val("smtp_smarthost")), `global.smtp_smarthost: ${hostProblem}`);
  const slackApiUrl = opt("slack_api_url");
  const slackProblem = slackApiUrl === undefined ? undefined : urlProblem(slackApiUrl, true);
  if (slackProblem) r.fail(r.deref(val("slack_api_url")), `global.slack_api_url: ${slackProblem}`);

  warnIgnored(r, g, "global", ["http_config", "smtp_auth_secret", "smtp_auth_identity"]);

  const slackFile = opt("slack_api_url_file");
  const passwordFile = opt("smtp_auth_password_file");
  return {
    global: {
      resolveTimeoutMs: r.duration(val("resolve_timeout"), "global.resolve_timeout") ?? 5 * 60_000,
      smtpFrom: opt("smtp_from"),
      smtpSmarthost: smarthost,
      smtpHello: opt("smtp_hello") ?? "localhost",
      smtpAuthUsername: opt("smtp_auth_username"),
      smtpAuthPassword: opt("smtp_auth_password"),
      smtpRequireTls: r.bool(val("smtp_require_tls"), "global.smtp_require_tls") ?? true,
      slackApiUrl,
    },
    slackApiUrlFile: slackFile
      ? { path: slackFile, node: r.deref(val("slack_api_url_file")) as Node }
      : undefined,
    smtpAuthPasswordFile: passwordFile
      ? { path: passwordFile, node: r.deref(val("smtp_auth_password_file")) as Node }
      : undefined,
    slackUrlConfigured: slackApiUrl !== undefined || slackFile !== undefined,
  };
}

/** Options Alertmanager honours that the embedded notifier does not: accepted with a warning. */
function warnIgnored(r: Reader, m: Map<string, Entry>, where: string, keys: readonly string[]): void {
  for (const k of keys) {
    const e = m.get(k);
    if (e && !r.isNull(e.value)) r.warn(e.key, `${where}.${k} is ignored by the embedded notifier`);
  }
}

/** A secret file's content (trimmed), or undefined when it cannot be read here. */
function readSecretFile(path: string): string | undefined {
  try {
    return readFileSync(resolvePath(path), "utf8").trim() || undefined;
  } catch {
    return undefined; // absent or unreadable on this host: the callers warn or fail, naming the file
  }
}

// ---------------------------------------------------------------------------------------------
// Matchers in routes and inhibit rules

/** `matchers: [...]`: each string through ParseMatchers, all sorted (config.Matchers). */
function parseMatcherList(r: Reader, node: YNode, what: string): Matcher[] {
  const out: Matcher[] = [];
  for (const { node: item, value } of r.strList(node, what) ?? []) {
    try {
      out.push(...parseMatchers(value));
    } catch (err) {
      r.fail(item, `${what}: ${(err as Error).message}`);
    }
  }
  return sortMatchers(out);
}

/** Deprecated `match:` (equality). */
function parseMatchMap(r: Reader, node: YNode, what: string): Matcher[] {
  return r.strMap(node, what).map(({ key, name, value }) => {
    if (!LABEL_NAME_RE.test(name)) r.fail(key, `${what}: invalid label name ${JSON.stringify(name)}`);
    return newMatcher(name, "=", value);
  });
}

/**
 * Deprecated `match_re:`. Alertmanager builds these matchers from the compiled regexp's String(),
 * i.e. the already anchored `^(?:re)$`, so that form is what Route.Key() shows.
 */
function parseMatchReMap(r: Reader, node: YNode, what: string): Matcher[] {
  return r.strMap(node, what).map(({ key, name, value, valueNode }) => {
    if (!LABEL_NAME_RE.test(name)) r.fail(key, `${what}: invalid label name ${JSON.stringify(name)}`);
    try {
      newMatcher(name, "=~", value);
    } catch (err) {
      r.fail(r.deref(valueNode), `${what}.${name}: ${(err as Error).message}`);
    }
    return newMatcher(name, "=~", `^(?:${value})$`);
  });
}

// ---------------------------------------------------------------------------------------------
// route

const ROUTE_KEYS = [
  "receiver",
  "group_by",
  "match",
  "match_re",
  "matchers",
  "mute_time_intervals",
  "active_time_intervals",
  "continue",
  "routes",
  "group_wait",
  "group_interval",
  "repeat_interval",
];

/** A route as written (config.Route), before inheritance. */
interface RouteSpec {
  node: YNode;
  receiver: string;
  receiverNode: YNode;
  /** undefined: not set (inherit); `['...']` gives groupByAll. */
  groupBy?: string[];
  groupByAll: boolean;
  matchers: Matcher[];
  muteTimeIntervals: Array<{ node: Node; value: string }>;
  activeTimeIntervals: Array<{ node: Node; value: string }>;
  continue: boolean;
  continueNode: YNode;
  groupWaitMs?: number;
  groupIntervalMs?: number;
  repeatIntervalMs?: number;
  routes: RouteSpec[];
}

/** Deeper route trees are refused: a YAML alias can make a route its own child (`routes: [*r]`). */
const MAX_ROUTE_DEPTH = 100;

function parseRouteSpec(r: Reader, node: YNode, where: string, depth = 0): RouteSpec {
  if (depth > MAX_ROUTE_DEPTH)
    r.fail(
      node,
      `routes nest more than ${MAX_ROUTE_DEPTH} deep (a YAML alias that refers to its own route?)`,
    );
  const m = r.mapping(node, where, ROUTE_KEYS);
  const val = (k: string) => m.get(k)?.value;

  const groupBy: string[] = [];
  let groupByAll = false;
  for (const { node: item, value } of r.strList(val("group_by"), `${where}.group_by`) ?? []) {
    if (value === "...") {
      groupByAll = true;
      continue;
    }
    if (!LABEL_NAME_RE.test(value))
      r.fail(item, `invalid label name ${JSON.stringify(value)} in group_by list`);
    if (groupBy.includes(value)) r.fail(item, `duplicated label ${JSON.stringify(value)} in group_by`);
    groupBy.push(value);
  }
  if (groupByAll && groupBy.length > 0) {
    r.fail(val("group_by"), "cannot have wildcard group_by (`...`) and other labels at the same time");
  }

  const groupIntervalMs = r.duration(val("group_interval"), `${where}.group_interval`);
  if (groupIntervalMs === 0) r.fail(r.deref(val("group_interval")), "group_interval cannot be zero");
  const repeatIntervalMs = r.duration(val("repeat_interval"), `${where}.repeat_interval`);
  if (repeatIntervalMs === 0) r.fail(r.deref(val("repeat_interval")), "repeat_interval cannot be zero");

  const matchers = [
    ...parseMatchMap(r, val("match"), `${where}.match`),
    ...parseMatchReMap(r, val("match_re"), `${where}.match_re`),
    ...parseMatcherList(r, val("matchers"), `${where}.matchers`),
  ];

  return {
    node,
    receiver: r.str(val("receiver"), `${where}.receiver`),
    receiverNode: val("receiver"),
    // Alertmanager keeps GroupBy nil unless a real label is listed, so `group_by: []` inherits.
    groupBy: groupBy.length > 0 ? groupBy : undefined,
    groupByAll,
    matchers: sortMatchers(matchers),
    muteTimeIntervals: r.strList(val("mute_time_intervals"), `${where}.mute_time_intervals`) ?? [],
    activeTimeIntervals: r.strList(val("active_time_intervals"), `${where}.active_time_intervals`) ?? [],
    continue: r.bool(val("continue"), `${where}.continue`) ?? false,
    continueNode: m.get("continue")?.key,
    groupWaitMs: r.duration(val("group_wait"), `${where}.group_wait`),
    groupIntervalMs,
    repeatIntervalMs,
    routes: r
      .list(val("routes"), `${where}.routes`)
      .map((child, i) => parseRouteSpec(r, child, `${where}.routes[${i}]`, depth + 1)),
  };
}

const DEFAULT_ROUTE_OPTS: RouteOpts = {
  receiver: "",
  groupBy: [],
  groupByAll: false,
  groupWaitMs: 30_000,
  groupIntervalMs: 5 * 60_000,
  repeatIntervalMs: 4 * 3_600_000,
  muteTimeIntervals: [],
  activeTimeIntervals: [],
};

/** dispatch.NewRoute's option inheritance. */
function routeOpts(spec: RouteSpec, parent: RouteOpts): RouteOpts {
  const opts: RouteOpts = { ...parent, groupBy: [...parent.groupBy] };
  if (spec.receiver !== "") opts.receiver = spec.receiver;
  if (spec.groupBy) {
    opts.groupBy = [...spec.groupBy];
    opts.groupByAll = false;
  } else if (spec.groupByAll) {
    opts.groupByAll = true;
  }
  if (spec.groupWaitMs !== undefined) opts.groupWaitMs = spec.groupWaitMs;
  if (spec.groupIntervalMs !== undefined) opts.groupIntervalMs = spec.groupIntervalMs;
  if (spec.repeatIntervalMs !== undefined) opts.repeatIntervalMs = spec.repeatIntervalMs;
  // Alertmanager assigns, not inherits, these: a child route without them is never muted.
  opts.muteTimeIntervals = spec.muteTimeIntervals.map((t) => t.value);
  opts.activeTimeIntervals = spec.activeTimeIntervals.map((t) => t.value);
  return opts;
}

type MutableRoute = { -readonly [K in keyof Route]: Route[K] } & { routes: Route[] };

/** Builds the runtime tree; key and id as Route.Key() and Route.ID() in dispatch/route.go. */
function buildRoute(spec: RouteSpec, parent: Route | undefined, position: number): Route {
  const own = matchersString(spec.matchers);
  const key = parent ? `${parent.key}/${own}` : own;
  const route: MutableRoute = {
    parent,
    opts: routeOpts(spec, parent?.opts ?? DEFAULT_ROUTE_OPTS),
    matchers: spec.matchers,
    continue: spec.continue,
    routes: [],
    key,
    // ID() is Key() plus the position among all of the parent's children (not only same-key ones).
    id: parent ? `${key}/${position}` : key,
  };
  spec.routes.forEach((child, i) => {
    route.routes.push(buildRoute(child, route, i));
  });
  return route;
}

function checkRootRoute(r: Reader, root: RouteSpec, m: Map<string, Entry>): void {
  if (root.receiver === "") r.fail(root.node, "root route must specify a default receiver");
  if (root.matchers.length > 0) {
    const where = m.get("matchers") ?? m.get("match") ?? m.get("match_re");
    r.fail(where?.key, "root route must not have any matchers");
  }
  if (root.muteTimeIntervals.length > 0) {
    r.fail(m.get("mute_time_intervals")?.key, "root route must not have any mute time intervals");
  }
  if (root.activeTimeIntervals.length > 0) {
    r.fail(m.get("active_time_intervals")?.key, "root route must not have any active time intervals");
  }
  if (root.continue) r.fail(root.continueNode, "cannot have continue in root route");
}

/** Children first, as Alertmanager's checkReceiver and checkTimeInterval walk the tree. */
function checkRouteReferences(
  r: Reader,
  spec: RouteSpec,
  receivers: Set<string>,
  intervals: Set<string>,
): void {
  for (const child of spec.routes) checkRouteReferences(r, child, receivers, intervals);
  if (spec.receiver !== "" && !receivers.has(spec.receiver)) {
    r.fail(r.deref(spec.receiverNode), `undefined receiver ${JSON.stringify(spec.receiver)} used in route`);
  }
  for (const t of [...spec.activeTimeIntervals, ...spec.muteTimeIntervals]) {
    if (!intervals.has(t.value))
      r.fail(t.node, `undefined time interval ${JSON.stringify(t.value)} used in route`);
  }
}

// ---------------------------------------------------------------------------------------------
// inhibit_rules

const INHIBIT_KEYS = [
  "source_match",
  "source_match_re",
  "source_matchers",
  "target_match",
  "target_match_re",
  "target_matchers",
  "equal",
];

function parseInhibitRule(r: Reader, node: YNode, where: string): InhibitRule {
  const m = r.mapping(node, where, INHIBIT_KEYS);
  const val = (k: string) => m.get(k)?.value;
  const side = (s: "source" | "target") => [
    ...parseMatchMap(r, val(`${s}_match`), `${where}.${s}_match`),
    ...parseMatchReMap(r, val(`${s}_match_re`), `${where}.${s}_match_re`),
    ...parseMatcherList(r, val(`${s}_matchers`), `${where}.${s}_matchers`),
  ];
  const equal = (r.strList(val("equal"), `${where}.equal`) ?? []).map(({ node: item, value }) => {
    if (!LABEL_NAME_RE.test(value)) r.fail(item, `${JSON.stringify(value)} is not a valid label name`);
    return value;
  });
  return { sourceMatchers: side("source"), targetMatchers: side("target"), equal };
}

// ---------------------------------------------------------------------------------------------
// receivers

const IMPLEMENTED_INTEGRATIONS = ["email_configs", "slack_configs", "webhook_configs"];
// Integrations Alertmanager 0.25 knows and the embedded notifier does not implement. Later
// Alertmanager integrations (msteams_configs, ...) are unknown fields, as they are to 0.25.
const OTHER_INTEGRATIONS = [
  "pagerduty_configs",
  "opsgenie_configs",
  "wechat_configs",
  "pushover_configs",
  "victorops_configs",
  "sns_configs",
  "telegram_configs",
  "webex_configs",
  "discord_configs",
];

interface ReceiverContext {
  r: Reader;
  g: ParsedGlobal;
  secrets: NotifierSecrets;
  receiver: string;
}

/** Alertmanager would render these as Go templates, which the embedded notifier cannot. */
function rejectTemplate(c: ReceiverContext, node: YNode, field: string, value: string | undefined): void {
  if (value?.includes(TEMPLATE_MARK)) {
    c.r.fail(
      c.r.deref(node),
      `receiver ${JSON.stringify(c.receiver)} ${field}: custom notification templates are not supported by the embedded notifier; remove it to use Alertmanager's default`,
    );
  }
}

const EMAIL_KEYS = [
  "send_resolved",
  "to",
  "from",
  "hello",
  "smarthost",
  "auth_username",
  "auth_password",
  "auth_password_file",
  "auth_secret",
  "auth_identity",
  "headers",
  "html",
  "text",
  "require_tls",
  "tls_config",
];

function smtpSecretHost(secrets: NotifierSecrets): string | undefined {
  const host = secrets.smtp?.host;
  if (!host) return undefined;
  const port = secrets.smtp?.port ?? 587; // the project's SMTP_PORT default
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseEmailConfig(c: ReceiverContext, node: YNode, where: string, index: number): EmailConfig {
  const r: Reader = c.r;
  const { g, secrets } = c;
  const m = r.mapping(node, where, EMAIL_KEYS);
  const val = (k: string) => m.get(k)?.value;
  const opt = (k: string) => r.str(val(k), `${where}.${k}`) || undefined;
  const label = `receiver ${JSON.stringify(c.receiver)} email_configs[${index}]`;
  const field = (k: string) => `email_configs[${index}].${k}`;

  const to = opt("to");
  if (to === undefined)
    r.fail(node, `receiver ${JSON.stringify(c.receiver)}: missing to address in email config`);
  for (const k of ["to", "from", "hello", "auth_username"]) rejectTemplate(c, val(k), field(k), opt(k));
  for (const k of ["html", "text"]) {
    const v = opt(k);
    if (v === undefined) continue;
    rejectTemplate(c, val(k), field(k), v);
    // A literal body would silently differ from what Alertmanager sends.
    r.fail(
      r.deref(val(k)),
      `receiver ${JSON.stringify(c.receiver)} ${field(k)}: custom email bodies are not supported by the embedded notifier; remove it to use Alertmanager's default`,
    );
  }

  const headers: Record<string, string> = {};
  for (const h of r.strMap(val("headers"), `${where}.headers`)) {
    const name = titleCase(h.name);
    if (name in headers) r.fail(h.key, `duplicate header ${JSON.stringify(name)} in email config`);
    rejectTemplate(c, h.valueNode, field(`headers.${h.name}`), h.value);
    headers[name] = h.value;
  }

  const ownHost = opt("smarthost");
  const hostProblem = ownHost === undefined ? undefined : hostPortProblem(ownHost);
  if (hostProblem) r.fail(r.deref(val("smarthost")), `${where}.smarthost: ${hostProblem}`);
  // The environment describes this deployment, the shared file only a default (amtool demands a
  // smarthost in it): SMTP_HOST / SMTP_FROM win over the global ones; a receiver's own wins over all.
  const smarthost = ownHost ?? smtpSecretHost(secrets) ?? g.global.smtpSmarthost;
  if (smarthost === undefined) {
    r.fail(
      node,
      `receiver ${JSON.stringify(c.receiver)}: no SMTP smarthost: set smarthost, global.smtp_smarthost or SMTP_HOST`,
    );
  }
  const from = opt("from") ?? secrets.smtp?.from ?? g.global.smtpFrom;
  if (from === undefined) {
    r.fail(
      node,
      `receiver ${JSON.stringify(c.receiver)}: no SMTP from address: set from or global.smtp_from`,
    );
  }

  warnIgnored(r, m, label, ["auth_secret", "auth_identity", "tls_config"]);

  const ownPasswordSet = opt("auth_password") !== undefined || opt("auth_password_file") !== undefined;
  const passwordFromFile = (f: { path: string } | undefined) => (f ? readSecretFile(f.path) : undefined);
  const ownFile = opt("auth_password_file");
  const filePassword = ownPasswordSet
    ? (opt("auth_password") ?? passwordFromFile(ownFile ? { path: ownFile } : undefined))
    : (g.global.smtpAuthPassword ?? passwordFromFile(g.smtpAuthPasswordFile));

  return {
    sendResolved: r.bool(val("send_resolved"), `${where}.send_resolved`) ?? false,
    to,
    from,
    smarthost,
    hello: opt("hello") ?? g.global.smtpHello,
    authUsername: opt("auth_username") ?? g.global.smtpAuthUsername ?? secrets.smtp?.username,
    authPassword: filePassword ?? secrets.smtp?.password,
    requireTls: r.bool(val("require_tls"), `${where}.require_tls`) ?? g.global.smtpRequireTls,
    headers,
  };
}

const SLACK_KEYS = [
  "send_resolved",
  "http_config",
  "api_url",
  "api_url_file",
  "channel",
  "username",
  "color",
  "title",
  "title_link",
  "pretext",
  "text",
  "fields",
  "short_fields",
  "footer",
  "fallback",
  "callback_id",
  "icon_emoji",
  "icon_url",
  "image_url",
  "thumb_url",
  "link_names",
  "mrkdwn_in",
  "actions",
];

const SLACK_TEXT_FIELDS: Array<[string, keyof SlackConfig]> = [
  ["channel", "channel"],
  ["username", "username"],
  ["color", "color"],
  ["title", "title"],
  ["title_link", "titleLink"],
  ["pretext", "pretext"],
  ["text", "text"],
  ["footer", "footer"],
  ["fallback", "fallback"],
  ["callback_id", "callbackId"],
  ["icon_emoji", "iconEmoji"],
  ["icon_url", "iconUrl"],
];

/**
 * The webhook URL in Alertmanager's order (api_url, api_url_file, then the global ones), then
 * SLACK_WEBHOOK_URL. A file that cannot be read here (a path on the Alertmanager host) falls
 * through to the secret; undefined means the channel must get it from SLACK_WEBHOOK_URL.
 */
function slackApiUrl(
  c: ReceiverContext,
  m: Map<string, Entry>,
  where: string,
  label: string,
): string | undefined {
  const r: Reader = c.r;
  const { g, secrets } = c;
  const inline = r.str(m.get("api_url")?.value, `${where}.api_url`) || undefined;
  const file = r.str(m.get("api_url_file")?.value, `${where}.api_url_file`) || undefined;
  if (inline !== undefined && file !== undefined) {
    r.fail(m.get("api_url_file")?.key, "at most one of api_url & api_url_file must be configured");
  }
  if (inline !== undefined) {
    const problem = urlProblem(inline, true);
    if (problem) r.fail(r.deref(m.get("api_url")?.value), `${label}.api_url: ${problem}`);
    return inline;
  }
  if (file === undefined && !g.slackUrlConfigured && !secrets.slackWebhookUrl) {
    r.fail(
      m.get("api_url")?.key ?? null,
      `${label}: no Slack API URL: set api_url_file, global.slack_api_url_file or SLACK_WEBHOOK_URL`,
    );
  }
  const fileNode = file !== undefined ? r.deref(m.get("api_url_file")?.value) : g.slackApiUrlFile?.node;
  const path = file ?? g.slackApiUrlFile?.path;
  const fromFile = path === undefined ? undefined : readSecretFile(path);
  if (fromFile !== undefined) {
    const problem = urlProblem(fromFile, true);
    if (problem) r.fail(fileNode, `${label}: the Slack API URL file does not hold a valid URL: ${problem}`);
    return fromFile;
  }
  const url = (file === undefined ? g.global.slackApiUrl : undefined) ?? secrets.slackWebhookUrl;
  if (url === undefined)
    r.warn(fileNode, `${label}: Slack API URL file is not readable here and SLACK_WEBHOOK_URL is not set`);
  return url;
}

function parseSlackConfig(c: ReceiverContext, node: YNode, where: string, index: number): SlackConfig {
  const r: Reader = c.r;
  const label = `receiver ${JSON.stringify(c.receiver)} slack_configs[${index}]`;
  const m = r.mapping(node, where, SLACK_KEYS);
  const val = (k: string) => m.get(k)?.value;
  const opt = (k: string) => r.str(val(k), `${where}.${k}`) || undefined;

  const apiUrl = slackApiUrl(c, m, where, label);
  const fields = r.list(val("fields"), `${where}.fields`).map((f, i) => {
    const fm = r.mapping(f, `${where}.fields[${i}]`, ["title", "value", "short"]);
    const title = r.str(fm.get("title")?.value, "title");
    const value = r.str(fm.get("value")?.value, "value");
    if (title === "") r.fail(f, "missing title in Slack field configuration");
    if (value === "") r.fail(f, "missing value in Slack field configuration");
    rejectTemplate(c, fm.get("title")?.value, `slack_configs[${index}].fields[${i}].title`, title);
    rejectTemplate(c, fm.get("value")?.value, `slack_configs[${index}].fields[${i}].value`, value);
    const short = r.bool(fm.get("short")?.value, "short");
    return short === undefined ? { title, value } : { title, value, short };
  });
  warnIgnored(r, m, label, ["http_config", "image_url", "thumb_url", "actions"]);

  const config: SlackConfig = {
    sendResolved: r.bool(val("send_resolved"), `${where}.send_resolved`) ?? false,
    apiUrl,
    linkNames: r.bool(val("link_names"), `${where}.link_names`) ?? false,
    mrkdwnIn: (r.strList(val("mrkdwn_in"), `${where}.mrkdwn_in`) ?? []).map((x) => x.value),
    fields,
    shortFields: r.bool(val("short_fields"), `${where}.short_fields`) ?? false,
  };
  for (const [key, prop] of SLACK_TEXT_FIELDS) {
    const v = opt(key);
    rejectTemplate(c, val(key), `slack_configs[${index}].${key}`, v);
    if (v !== undefined) (config as unknown as Record<string, unknown>)[prop] = v;
  }
  return config;
}

/** The API's escalation intake for the stack's Alertmanager (src/http/ack.ts, docs/escalation.md). */
export const ESCALATION_INTAKE_PATH = "/monitoring/api/escalation/alertmanager";

function parseWebhookConfig(c: ReceiverContext, node: YNode, where: string, index: number): WebhookConfig {
  const r: Reader = c.r;
  const label = `receiver ${JSON.stringify(c.receiver)} webhook_configs[${index}]`;
  const m = r.mapping(node, where, ["send_resolved", "http_config", "url", "max_alerts"]);
  const url = r.str(m.get("url")?.value, `${where}.url`);
  if (url === "") r.fail(node, `${label}: missing URL in webhook config`);
  const problem = urlProblem(url, true);
  if (problem) r.fail(r.deref(m.get("url")?.value), `${label}.url: ${problem}`);
  // The stack's webhook to the API's own escalation intake is never sent by the embedded notifier
  // (src/app/notifier.ts), so its http_config does not matter here.
  if (!url.endsWith(ESCALATION_INTAKE_PATH)) warnIgnored(r, m, label, ["http_config"]);
  return {
    sendResolved: r.bool(m.get("send_resolved")?.value, `${where}.send_resolved`) ?? true,
    url,
    maxAlerts: r.uint(m.get("max_alerts")?.value, `${where}.max_alerts`) ?? 0,
  };
}

function parseReceiver(
  r: Reader,
  g: ParsedGlobal,
  secrets: NotifierSecrets,
  node: YNode,
  where: string,
): Receiver {
  const m = r.mapping(node, where, ["name", ...IMPLEMENTED_INTEGRATIONS, ...OTHER_INTEGRATIONS]);
  const name = r.str(m.get("name")?.value, `${where}.name`);
  if (name === "") r.fail(node, "missing name in receiver");
  const c: ReceiverContext = { r, g, secrets, receiver: name };
  const configs = (k: string) => r.list(m.get(k)?.value, `${where}.${k}`);
  for (const k of OTHER_INTEGRATIONS) {
    if (configs(k).length > 0) {
      r.warn(
        m.get(k)?.key,
        `receiver ${JSON.stringify(name)}: ${k} is not implemented by the embedded notifier; ignored`,
      );
    }
  }
  return {
    name,
    emailConfigs: configs("email_configs").map((n, i) =>
      parseEmailConfig(c, n, `${where}.email_configs[${i}]`, i),
    ),
    slackConfigs: configs("slack_configs").map((n, i) =>
      parseSlackConfig(c, n, `${where}.slack_configs[${i}]`, i),
    ),
    webhookConfigs: configs("webhook_configs").map((n, i) =>
      parseWebhookConfig(c, n, `${where}.webhook_configs[${i}]`, i),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// time intervals

function parseNamedIntervals(
  r: Reader,
  node: YNode,
  key: "time_intervals" | "mute_time_intervals",
  into: Map<string, TimeIntervalSpec[]>,
): void {
  const what = key === "time_intervals" ? "time interval" : "mute time interval";
  r.list(node, key).forEach((item, i) => {
    const m = r.mapping(item, `${key}[${i}]`, ["name", "time_intervals"]);
    const name = r.str(m.get("name")?.value, `${key}[${i}].name`);
    if (name === "") r.fail(item, `missing name in ${what}`);
    if (into.has(name)) r.fail(m.get("name")?.value, `${what} ${JSON.stringify(name)} is not unique`);
    const entries = r.list(m.get("time_intervals")?.value, `${key}[${i}].time_intervals`);
    into.set(
      name,
      entries.map((entry, j) => {
        try {
          return parseTimeInterval(r.toJS(entry), `${what} ${JSON.stringify(name)} time_intervals[${j}]`);
        } catch (err) {
          return r.fail(entry, (err as Error).message);
        }
      }),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The file

const TOP_KEYS = [
  "global",
  "route",
  "inhibit_rules",
  "receivers",
  "templates",
  "mute_time_intervals",
  "time_intervals",
];

function parseYaml(text: string, file: string): Reader {
  const lines = new LineCounter();
  // Failsafe: every scalar stays a string, so types are decided here the way yaml.v2 decides them.
  const doc = parseDocument(text, {
    lineCounter: lines,
    schema: "failsafe",
    prettyErrors: false,
    uniqueKeys: true,
  });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    const message = first.message.split("\n")[0] ?? first.message;
    throw new ConfigError(`${file}:${line}:${col}: invalid YAML: ${message}`);
  }
  return new Reader(file, doc, lines);
}

/**
 * Parses Alertmanager configuration text. Throws ConfigError (`file:line:col: problem`) where
 * Alertmanager 0.25 would reject the file, and where the embedded notifier cannot honour it.
 */
export function parseAlertmanagerConfig(
  text: string,
  file: string,
  secrets: NotifierSecrets = {},
): LoadedAlertmanagerConfig {
  const r: Reader = parseYaml(text, file);
  const rootNode = r.root();
  const top = r.mapping(rootNode, "the configuration", TOP_KEYS);
  const val = (k: string) => top.get(k)?.value;

  const g = parseGlobal(r, val("global"));
  const routeEntry = top.get("route");
  if (!routeEntry || r.isNull(routeEntry.value))
    r.fail(routeEntry?.key ?? rootNode, "no route provided in config");
  const rootSpec = parseRouteSpec(r, routeEntry.value, "route");

  const inhibitRules = r
    .list(val("inhibit_rules"), "inhibit_rules")
    .map((n, i) => parseInhibitRule(r, n, `inhibit_rules[${i}]`));

  const receivers = new Map<string, Receiver>();
  r.list(val("receivers"), "receivers").forEach((n, i) => {
    const rcv = parseReceiver(r, g, secrets, n, `receivers[${i}]`);
    if (receivers.has(rcv.name))
      r.fail(n, `notification config name ${JSON.stringify(rcv.name)} is not unique`);
    receivers.set(rcv.name, rcv);
  });

  const routeMap = r.mapping(routeEntry.value, "route", ROUTE_KEYS);
  checkRootRoute(r, rootSpec, routeMap);
  const timeIntervals = new Map<string, TimeIntervalSpec[]>();
  // Alertmanager reads the deprecated list first, so a clash is reported on time_intervals.
  parseNamedIntervals(r, val("mute_time_intervals"), "mute_time_intervals", timeIntervals);
  parseNamedIntervals(r, val("time_intervals"), "time_intervals", timeIntervals);
  checkRouteReferences(r, rootSpec, new Set(receivers.keys()), new Set(timeIntervals.keys()));

  const templates = r.strList(val("templates"), "templates") ?? [];
  if (templates.length > 0) {
    r.warn(
      top.get("templates")?.key,
      "templates are not loaded by the embedded notifier, which uses Alertmanager's default templates",
    );
  }

  return {
    config: {
      file,
      global: g.global,
      route: buildRoute(rootSpec, undefined, 0),
      inhibitRules,
      receivers,
      timeIntervals,
    },
    // A receiver is read once per route that uses it: say each thing once.
    warnings: [...new Set(r.warnings)],
  };
}

/** Reads and parses an Alertmanager configuration file (see parseAlertmanagerConfig). */
export function loadAlertmanagerConfig(
  file: string,
  secrets: NotifierSecrets = {},
): LoadedAlertmanagerConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`${file}: cannot read the Alertmanager configuration (${code})`);
  }
  return parseAlertmanagerConfig(text, file, secrets);
}
