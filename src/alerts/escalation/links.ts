// Signed acknowledgement links: `<externalURL>/alerts/<fingerprint>/ack?exp=<unix s>&sig=<hex>`
// where sig = HMAC-SHA256(secret, "tug-ack\n<fingerprint>\n<exp>"). The signature is the
// credential (whoever got the message may acknowledge that one alert until `exp`), so the link
// works without the monitoring token. The secret is `notifications.ackLinkSecret` when set, else
// a random one kept in the notifier's state file; it is never logged or shown.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { StateDb } from "../notify/state.js";

/** How long a link in a message stays valid. */
export const ACK_LINK_TTL_MS = 7 * 86_400_000;

export type LinkCheck = { ok: true } | { ok: false; reason: string };

export class AckLinks {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly externalURL: string,
    private readonly ttlMs = ACK_LINK_TTL_MS,
  ) {
    this.key = Buffer.from(secret, "utf8");
  }

  private mac(fingerprint: string, exp: string): string {
    return createHmac("sha256", this.key).update(`tug-ack\n${fingerprint}\n${exp}`).digest("hex");
  }

  /** The link for an alert, valid for the TTL from `nowMs`. */
  url(fingerprint: string, nowMs: number): string {
    const exp = String(Math.floor((nowMs + this.ttlMs) / 1000));
    return `${this.externalURL}/alerts/${fingerprint}/ack?exp=${exp}&sig=${this.mac(fingerprint, exp)}`;
  }

  /** Whether `exp` and `sig` are a valid, unexpired signature for this fingerprint. */
  check(fingerprint: string, exp: unknown, sig: unknown, nowMs: number): LinkCheck {
    if (typeof exp !== "string" || !/^[1-9]\d{0,12}$/.test(exp))
      return { ok: false, reason: "exp must be the link's expiry in whole seconds since the epoch" };
    if (typeof sig !== "string" || !/^[0-9a-f]{64}$/.test(sig))
      return { ok: false, reason: "sig must be 64 lower-case hex digits" };
    const expected = Buffer.from(this.mac(fingerprint, exp), "hex");
    if (!timingSafeEqual(expected, Buffer.from(sig, "hex")))
      return { ok: false, reason: "the signature does not match this alert and expiry" };
    if (Number(exp) * 1000 <= nowMs)
      return { ok: false, reason: `the link expired at ${new Date(Number(exp) * 1000).toISOString()}` };
    return { ok: true };
  }
}

/** The configured secret, else the state file's own (created once, random, 32 bytes). */
export function ackLinkSecret(db: StateDb, configured: string | undefined): string {
  if (configured) return configured;
  db.exec("CREATE TABLE IF NOT EXISTS escalation_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  db.prepare("INSERT OR IGNORE INTO escalation_meta (key, value) VALUES ('ack_link_secret', ?)").run(
    randomBytes(32).toString("hex"),
  );
  return String(db.prepare("SELECT value FROM escalation_meta WHERE key = 'ack_link_secret'").pluck().get());
}
