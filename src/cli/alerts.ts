// `tug alerts test --receiver NAME`: one test notification through every integration of a
// receiver of alertmanager.yml, straight from the command line (no running server needed).
import { createChannels } from "../alerts/channels/index.js";
import { loadAlertmanagerConfig, testNotification } from "../alerts/notify/index.js";
import { ConfigError, loadConfig } from "../core/config/index.js";
import { externalUrl, resolveInstallPath } from "../core/install.js";

const USAGE = "usage: tug alerts test --receiver NAME [--config alertmanager.yml]\n";

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Returns the exit code: 0 all delivered, 1 some failed, 2 bad usage, 78 invalid configuration. */
export async function alertsCommand(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const [sub, ...rest] = argv;
  const receiver = flag(rest, "--receiver");
  if (sub !== "test" || !receiver) {
    err(USAGE);
    return 2;
  }
  try {
    const config = loadConfig();
    const n = config.notifications;
    const file = resolveInstallPath(flag(rest, "--config") ?? n.alertmanagerConfig);
    const { config: am, warnings } = loadAlertmanagerConfig(file, {
      slackWebhookUrl: n.slackWebhookUrl,
      smtp: n.smtp,
    });
    for (const w of warnings) err(`tug: warning: ${w}\n`);
    const r = am.receivers.get(receiver);
    if (!r) {
      err(`tug: ${file} has no receiver "${receiver}"; receivers: ${[...am.receivers.keys()].join(", ")}\n`);
      return 2;
    }
    const channels = createChannels(r, {
      timeoutMs: n.channelTimeoutMs,
      ...(n.webhookSigningSecret ? { signingSecret: n.webhookSigningSecret } : {}),
    });
    if (channels.length === 0) {
      err(`tug: receiver "${receiver}" has no integrations to test\n`);
      return 1;
    }
    const externalURL = externalUrl(config);
    out(`sending a test notification through receiver "${receiver}" (${channels.length} integration(s))\n`);
    const results = await testNotification(receiver, channels, externalURL, Date.now());
    for (const x of results)
      out(x.ok ? `  ok      ${x.integration}\n` : `  FAILED  ${x.integration}: ${x.error}\n`);
    return results.every((x) => x.ok) ? 0 : 1;
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`tug: invalid configuration: ${e.message}\n`);
      return 78;
    }
    throw e;
  }
}
