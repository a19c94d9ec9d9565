// The webhook and Slack bodies our channels send, compared byte for byte with bodies that a real
// Alertmanager 0.25 sent for the same alerts (CONFORMANCE_DIR or ../shared/conformance,
// alertmanager/*.json). The only allowed difference is the webhook's extra `dedupKey`, which we
// append as the last key.
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSlackChannel } from "../../src/alerts/channels/slack.js";
import { createWebhookChannel } from "../../src/alerts/channels/webhook.js";
import type { Notification, NotificationAlert, SlackConfig } from "../../src/alerts/notify/types.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Same lookup as the PromQL conformance files (promql-files.ts), for the alertmanager folder. */
function referenceText(name: string): string {
  const dir = join(process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"), "alertmanager");
  const file = join(dir, name);
  if (!existsSync(file)) {
    throw new Error(
      `Alertmanager reference body not found at ${file}: set CONFORMANCE_DIR to the folder holding alertmanager/`,
    );
  }
  return readFileSync(file, "utf8");
}

interface WebhookReference {
  receiver: string;
  status: "firing" | "resolved";
  alerts: NotificationAlert[];
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  groupKey: string;
}

/** A notification carrying what the reference webhook body says Alertmanager had. */
function notificationFrom(ref: WebhookReference, dedupKey: string): Notification {
  return {
    receiver: ref.receiver,
    status: ref.status,
    alerts: ref.alerts,
    groupLabels: ref.groupLabels,
    commonLabels: ref.commonLabels,
    commonAnnotations: ref.commonAnnotations,
    externalURL: ref.externalURL,
    groupKey: ref.groupKey,
    dedupKey,
  };
}

let server: Server;
let baseUrl: string;
const bodies: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.end("ok");
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((done) => server.close(() => done())));

async function lastBodyAfter(send: () => Promise<unknown>): Promise<string> {
  bodies.length = 0;
  await expect(send()).resolves.toEqual({ ok: true });
  expect(bodies).toHaveLength(1);
  return bodies[0] ?? "";
}

describe("webhook body (version 4) against Alertmanager 0.25", () => {
  for (const file of ["webhook_firing_v0.25.json", "webhook_resolved_v0.25.json"]) {
    it(file, async () => {
      const reference = referenceText(file);
      const dedupKey = "dedup-0123456789abcdef";
      const channel = createWebhookChannel({ sendResolved: true, url: `${baseUrl}/hook`, maxAlerts: 0 }, 0, {
        timeoutMs: 5000,
      });
      const n = notificationFrom(JSON.parse(reference) as WebhookReference, dedupKey);
      const body = await lastBodyAfter(() => channel.send([n], new AbortController().signal));
      // Exactly the reference, with `,"dedupKey":…` before the closing brace.
      const expected = reference.replace(/}\n$/, `,"dedupKey":${JSON.stringify(dedupKey)}}\n`);
      expect(expected).not.toBe(reference);
      expect(body).toBe(expected);
    });
  }
});

describe("Slack body against Alertmanager 0.25", () => {
  it("slack_firing_v0.25.json", async () => {
    const reference = referenceText("slack_firing_v0.25.json");
    // The Slack body pins receiver (in title_link), the external URL, the channel, one firing
    // alert, and through the title the group labels: "HighErrorRate (api page)" means grouping by
    // alertname only, service and severity being common labels outside the group.
    const hook = JSON.parse(referenceText("webhook_firing_v0.25.json")) as WebhookReference;
    const n = notificationFrom(
      {
        ...hook,
        receiver: "slack",
        groupLabels: { alertname: "HighErrorRate" },
        groupKey: '{}:{alertname="HighErrorRate"}',
      },
      "dedup-slack",
    );
    const cfg: SlackConfig = {
      sendResolved: false,
      apiUrl: `${baseUrl}/services/T000/B000/XXXX`,
      channel: "#alerts",
      linkNames: false,
      mrkdwnIn: [],
      fields: [],
      shortFields: false,
    };
    const channel = createSlackChannel(cfg, 0, { timeoutMs: 5000 });
    const body = await lastBodyAfter(() => channel.send([n], new AbortController().signal));
    expect(body).toBe(reference);
  });
});
