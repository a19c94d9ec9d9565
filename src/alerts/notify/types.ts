// Shapes shared by the notifier (src/alerts/notify) and its channels (src/alerts/channels).
// The configuration shapes mirror Alertmanager 0.25's config package (config/config.go,
// config/notifiers.go) after defaults are applied; durations are milliseconds.

/** Alertmanager's label matcher (pkg/labels): `=`, `!=`, `=~`, `!~`; regexes are anchored. */
export interface Matcher {
  readonly name: string;
  readonly type: "=" | "!=" | "=~" | "!~";
  readonly value: string;
  /** Whether a label value (the empty string when the label is absent) satisfies the matcher. */
  matches(value: string): boolean;
  /** Alertmanager 0.25's String(): `name="value"`, escaping only `\`, `"` and newlines. */
  toString(): string;
}

export interface RouteOpts {
  receiver: string;
  /** Label names to group by; ignored when groupByAll. */
  groupBy: string[];
  /** `group_by: ['...']`: every label. */
  groupByAll: boolean;
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  muteTimeIntervals: string[];
  activeTimeIntervals: string[];
}

/** A node of the route tree, options already inherited from the parent. */
export interface Route {
  readonly parent: Route | undefined;
  readonly opts: RouteOpts;
  /** `matchers`, `match` and `match_re` together. */
  readonly matchers: Matcher[];
  readonly continue: boolean;
  readonly routes: Route[];
  /** Alertmanager's Route.Key(): parent key, "/", this route's matchers string (`{}` for none). */
  readonly key: string;
  /** Alertmanager's Route.ID(): the key plus `/` and the index among all of the parent's children. */
  readonly id: string;
}

export interface InhibitRule {
  sourceMatchers: Matcher[];
  targetMatchers: Matcher[];
  equal: string[];
}

/** One entry of a time interval (config/timeinterval): every listed part must match. */
export interface TimeIntervalSpec {
  /** Minutes since midnight, [start, end). */
  times: Array<{ startMinute: number; endMinute: number }>;
  /** 0 = Sunday … 6 = Saturday, inclusive ranges. */
  weekdays: Array<{ begin: number; end: number }>;
  /** 1…31 or negative from the end of the month, inclusive. */
  daysOfMonth: Array<{ begin: number; end: number }>;
  /** 1…12 inclusive. */
  months: Array<{ begin: number; end: number }>;
  years: Array<{ begin: number; end: number }>;
  /** IANA zone name; "UTC" by default, "Local" for the machine's zone. */
  location: string;
}

export interface EmailConfig {
  sendResolved: boolean;
  to: string;
  from: string;
  /** host:port */
  smarthost: string;
  hello: string;
  authUsername?: string;
  authPassword?: string;
  requireTls: boolean;
  headers: Record<string, string>;
}

export interface SlackConfig {
  sendResolved: boolean;
  /** Incoming-webhook URL; undefined when it must come from SLACK_WEBHOOK_URL. */
  apiUrl?: string;
  channel?: string;
  username?: string;
  iconEmoji?: string;
  iconUrl?: string;
  linkNames: boolean;
  /** Literal overrides of the default title/text/...; undefined means Alertmanager's default template. */
  title?: string;
  titleLink?: string;
  pretext?: string;
  text?: string;
  footer?: string;
  fallback?: string;
  color?: string;
  callbackId?: string;
  mrkdwnIn: string[];
  fields: Array<{ title: string; value: string; short?: boolean }>;
  shortFields: boolean;
}

export interface WebhookConfig {
  sendResolved: boolean;
  url: string;
  /** 0: no limit. */
  maxAlerts: number;
}

export interface Receiver {
  name: string;
  emailConfigs: EmailConfig[];
  slackConfigs: SlackConfig[];
  webhookConfigs: WebhookConfig[];
}

export interface GlobalConfig {
  resolveTimeoutMs: number;
  smtpFrom?: string;
  smtpSmarthost?: string;
  smtpHello: string;
  smtpAuthUsername?: string;
  smtpAuthPassword?: string;
  smtpRequireTls: boolean;
  slackApiUrl?: string;
}

export interface AlertmanagerConfig {
  /** The file it came from (for error messages). */
  file: string;
  global: GlobalConfig;
  route: Route;
  inhibitRules: InhibitRule[];
  receivers: Map<string, Receiver>;
  /** `time_intervals` and `mute_time_intervals` by name. */
  timeIntervals: Map<string, TimeIntervalSpec[]>;
}

// ---------------------------------------------------------------------------------------------
// What a channel is handed

/** One alert as Alertmanager puts it in a notification (template.Alert). */
export interface NotificationAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339, as Alertmanager prints Go times (no fractional part when zero). */
  startsAt: string;
  /** "0001-01-01T00:00:00Z" while firing. */
  endsAt: string;
  generatorURL: string;
  /** model.LabelSet.Fingerprint() as 16 hex digits. */
  fingerprint: string;
  /**
   * The rule's value at the last evaluation, when the embedded rule engine knows it. Not part of
   * Alertmanager's data: the webhook body leaves it out; email shows it.
   */
  value?: string;
  /**
   * A signed link that acknowledges this alert without the monitoring token (docs/escalation.md);
   * only on firing alerts an escalation policy covers. Not Alertmanager's: absent otherwise.
   */
  ackURL?: string;
}

/** One notification for one aggregation group (Alertmanager's template.Data plus what we add). */
export interface Notification {
  receiver: string;
  status: "firing" | "resolved";
  alerts: NotificationAlert[];
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  groupKey: string;
  /** Stable across retries of this notification: receivers may drop duplicates by it. */
  dedupKey: string;
  /** Set on the pages an escalation step sends (src/alerts/escalation): why this receiver hears of it. */
  escalation?: { policy: string; step: string; note: string };
}

/** The outcome of one delivery attempt. */
export type DeliveryResult = { ok: true } | { ok: false; retryable: boolean; error: string };

/** A configured channel instance (one entry of a receiver's *_configs). */
export interface Channel {
  /** "email" | "slack" | "webhook" | "alertmanager". */
  readonly kind: string;
  /** Index within the receiver's configs of this kind. */
  readonly index: number;
  readonly sendResolved: boolean;
  /**
   * Delivers one message. `notifications` holds one group, or several when the rate limit
   * coalesced them (only channels with `multiGroup` receive more than one).
   */
  send(notifications: Notification[], signal: AbortSignal): Promise<DeliveryResult>;
  /** Whether one message can carry several groups (email, Slack); webhooks carry one. */
  readonly multiGroup: boolean;
}
