/** What every secret is replaced with, wherever it would have been written. */
export const CENSOR = "[REDACTED]";

/** Object paths pino's redaction removes from every log line (fast-redact syntax). */
export const REDACT_PATHS = [
  "password",
  "newPassword",
  "token",
  "accessToken",
  "refreshToken",
  "apiKey",
  "api_key",
  "secret",
  "authorization",
  "cookie",
  "*.password",
  "*.newPassword",
  "*.token",
  "*.accessToken",
  "*.refreshToken",
  "*.apiKey",
  "*.api_key",
  "*.secret",
  "*.authorization",
  "*.cookie",
  "*.smtpPassword",
  "*.webhookUrl",
  "*.slackWebhookUrl",
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];

const SENSITIVE_PARAM =
  /([?&;](?:access_?token|refresh_?token|id_?token|token|api[_-]?key|apikey|key|secret|client_secret|password|passwd|pwd|pass|auth|signature|sig|session(?:id)?|credentials?)=)[^&#\s"]*/gi;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s"]+@/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;
const SLACK_WEBHOOK = /(hooks\.slack\.com\/services\/)[A-Za-z0-9/_-]+/gi;
// One cheap test first: most lines contain none of these, and then nothing else runs.
const ANY =
  /[?&;][a-z_]*(?:token|key|secret|pass|pwd|auth|sig|session|credential)[a-z_]*=|:\/\/[^/@\s"]+@|Bearer\s|Basic\s|hooks\.slack\.com/i;

/** Replace credentials in URLs and sensitive query parameters (for URLs that get logged). */
export function redactUrl(url: string): string {
  if (!ANY.test(url)) return url;
  return url.replace(URL_CREDENTIALS, `$1${CENSOR}@`).replace(SENSITIVE_PARAM, `$1${CENSOR}`);
}

/**
 * A scrubber for whole serialized log lines: the known secret values of this configuration
 * (the monitoring token, the SMTP password, webhook URLs, database and Redis passwords) and
 * the shapes of secrets anywhere (bearer tokens, URL credentials, sensitive query parameters,
 * Slack webhook paths). It is the last line of defence after pino's path-based redaction.
 */
export function createScrubber(secrets: ReadonlyArray<string | undefined>): (line: string) => string {
  // Values shorter than 6 characters would censor ordinary words; they are not secrets worth the name.
  const literals = [
    ...new Set(secrets.filter((s): s is string => typeof s === "string" && s.length >= 6)),
  ].sort((a, b) => b.length - a.length);
  return (line: string): string => {
    let out = line;
    for (const s of literals) if (out.includes(s)) out = out.split(s).join(CENSOR);
    if (!ANY.test(out)) return out;
    return out
      .replace(URL_CREDENTIALS, `$1${CENSOR}@`)
      .replace(SENSITIVE_PARAM, `$1${CENSOR}`)
      .replace(BEARER, `$1 ${CENSOR}`)
      .replace(SLACK_WEBHOOK, `$1${CENSOR}`);
  };
}

/** The secret values a configuration holds, including passwords inside its URLs. */
export function secretValues(values: ReadonlyArray<string | undefined>): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!v) continue;
    out.push(v);
    try {
      const u = new URL(v);
      if (u.password) {
        out.push(u.password);
        out.push(decodeURIComponent(u.password));
      }
    } catch {
      // not a URL: the value itself is the secret
    }
  }
  return out;
}
