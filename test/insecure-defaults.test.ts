import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { startTestApp } from "./support/app.js";

/** The stack's documented development password must not go unnoticed in production. */
it("warns at start in production when GRAFANA_ADMIN_PASSWORD is the development default", async () => {
  const env = { ENVIRONMENT: "production", MONITORING_TOKEN: "a-long-enough-monitoring-token" };
  const bad = await startTestApp({ ...env, GRAFANA_ADMIN_PASSWORD: "admin123" });
  const good = await startTestApp({ ...env, GRAFANA_ADMIN_PASSWORD: "correct-horse-battery-staple" });
  await bad.close();
  await good.close();
  const lines = (dir: string) =>
    readFileSync(join(dir, "app.log"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const warned = lines(bad.dir).filter((l) => l.event === "insecure_default");
  expect(warned).toHaveLength(1);
  expect(warned[0].level).toBe("WARN");
  expect(JSON.stringify(warned[0])).not.toContain("admin123");
  expect(lines(good.dir).filter((l) => l.event === "insecure_default")).toHaveLength(0);
});
