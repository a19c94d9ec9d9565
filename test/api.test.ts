import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { startPostgres, startRedis } from "./support/services.js";

type Service = Awaited<ReturnType<typeof startPostgres>>;

interface Backend {
  name: string;
  /** Start what the backend needs; returns extra env and the services to stop. */
  setup(): Promise<{ env: Record<string, string>; services: Service[]; db?: Service; redis?: Service }>;
}

const BACKENDS: Backend[] = [
  { name: "SQLite, sessions in the database", setup: async () => ({ env: {}, services: [] }) },
  {
    name: "PostgreSQL, sessions in the database",
    setup: async () => {
      const db = await startPostgres();
      return { env: { DATABASE_URL: db.url }, services: [db], db };
    },
  },
  {
    name: "SQLite, sessions in Redis",
    setup: async () => {
      const redis = await startRedis();
      return { env: { REDIS_URL: redis.url }, services: [redis], redis };
    },
  },
];

function expectErrorShape(
  res: { status: number; body: any; headers: Headers },
  status: number,
  code: string,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe("string");
  expect(res.body.requestId).toBe(res.headers.get("x-request-id"));
}

describe.each(BACKENDS)("TUG API on $name", (backend) => {
  let t: TestApp;
  let env: Awaited<ReturnType<Backend["setup"]>>;
  let clock = Date.now();

  beforeAll(async () => {
    env = await backend.setup();
    t = await startTestApp(env.env, { now: () => clock });
  }, 300_000);

  afterAll(async () => {
    await t?.close();
    for (const s of env?.services ?? []) await s.stop();
  });

  const register = (email: string, password = "correct horse") =>
    t.call("POST", "/api/v1/auth/register", { body: { email, password } });
  const login = async (email: string, password = "correct horse") => {
    const r = await t.call("POST", "/api/v1/auth/login", { body: { email, password } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.token as string;
  };

  it("registers, rejects duplicates (409) and invalid bodies (400 naming the fields)", async () => {
    const r = await register("Alice@Example.com");
    expect(r.status).toBe(201);
    expect(r.body.user).toMatchObject({ email: "alice@example.com", name: null });
    expect(r.body.user).not.toHaveProperty("password_hash");
    expectErrorShape(await register("alice@example.COM"), 409, "EMAIL_TAKEN");

    const bad = await t.call("POST", "/api/v1/auth/register", { body: { email: "nope", password: "short" } });
    expectErrorShape(bad, 400, "VALIDATION_FAILED");
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      "email",
      "password",
    ]);
    expect(bad.body.error.message).toContain("email");

    const extra = await t.call("POST", "/api/v1/auth/register", {
      body: { email: "x@y.io", password: "12345678", admin: true },
    });
    expectErrorShape(extra, 400, "VALIDATION_FAILED");
    expect(extra.body.error.details).toEqual([{ field: "admin", message: "is not a known field" }]);

    expectErrorShape(
      await t.call("POST", "/api/v1/auth/register", {
        raw: "{not json",
        headers: { "content-type": "application/json" },
      }),
      400,
      "INVALID_JSON",
    );
    expectErrorShape(
      await t.call("POST", "/api/v1/auth/register", {
        raw: "a=b",
        headers: { "content-type": "text/plain" },
      }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("logs in with a bearer token and rejects wrong credentials alike (401)", async () => {
    await register("bob@example.com");
    const token = await login("bob@example.com");
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expectErrorShape(
      await t.call("POST", "/api/v1/auth/login", {
        body: { email: "bob@example.com", password: "wrong one" },
      }),
      401,
      "INVALID_CREDENTIALS",
    );
    expectErrorShape(
      await t.call("POST", "/api/v1/auth/login", {
        body: { email: "nobody@example.com", password: "whatever1" },
      }),
      401,
      "INVALID_CREDENTIALS",
    );

    const me = await t.call("GET", "/api/v1/users/me", { token });
    expect(me.status).toBe(200);
    expect(me.body.user.email).toBe("bob@example.com");
    expectErrorShape(await t.call("GET", "/api/v1/users/me"), 401, "UNAUTHENTICATED");
    expectErrorShape(
      await t.call("GET", "/api/v1/users/me", { token: "x".repeat(43) }),
      401,
      "UNAUTHENTICATED",
    );
  });

  it("expires sessions and revokes them at logout", async () => {
    await register("carol@example.com");
    const token = await login("carol@example.com");
    expect((await t.call("GET", "/api/v1/users/me", { token })).status).toBe(200);
    clock += 25 * 3600 * 1000;
    expectErrorShape(await t.call("GET", "/api/v1/users/me", { token }), 401, "SESSION_EXPIRED");
    const fresh = await login("carol@example.com");
    expect((await t.call("POST", "/api/v1/auth/logout", { token: fresh })).status).toBe(204);
    expectErrorShape(await t.call("GET", "/api/v1/users/me", { token: fresh }), 401, "UNAUTHENTICATED");
  });

  it("creates, lists (paginated), reads, updates and deletes a user's own activities", async () => {
    await register("dan@example.com");
    const token = await login("dan@example.com");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await t.call("POST", "/api/v1/activities", {
        token,
        body: {
          type: "run",
          title: `Run ${i}`,
          durationMinutes: 10 + i,
          occurredAt: `2026-01-0${i + 1}T08:00:00Z`,
        },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.headers.get("location")).toBe(`/api/v1/activities/${r.body.activity.id}`);
      ids.push(r.body.activity.id);
    }
    const page1 = await t.call("GET", "/api/v1/activities?limit=2", { token });
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((a: { title: string }) => a.title)).toEqual(["Run 4", "Run 3"]);
    expect(page1.body.pagination).toEqual({ limit: 2, offset: 0, total: 5, nextOffset: 2 });
    const page3 = await t.call("GET", "/api/v1/activities?limit=2&offset=4", { token });
    expect(page3.body.items.map((a: { title: string }) => a.title)).toEqual(["Run 0"]);
    expect(page3.body.pagination.nextOffset).toBeNull();
    const badPage = await t.call("GET", "/api/v1/activities?limit=500", { token });
    expectErrorShape(badPage, 400, "VALIDATION_FAILED");
    expect(badPage.body.error.details[0].field).toBe("limit");

    for (const strict of ["limit=0x10", "limit=1e2", "limit=%205", "limit=", "offset=-0"]) {
      const bad = await t.call("GET", `/api/v1/activities?${strict}`, { token });
      expectErrorShape(bad, 400, "VALIDATION_FAILED");
      expect(bad.body.error.details[0].field).toBe(strict.split("=")[0]);
    }

    // An upper-case UUID is the same id.
    const upper = await t.call("GET", `/api/v1/activities/${(ids[0] as string).toUpperCase()}`, { token });
    expect(upper.status).toBe(200);
    expect(upper.body.activity.id).toBe(ids[0]);

    const got = await t.call("GET", `/api/v1/activities/${ids[0]}`, { token });
    expect(got.body.activity).toMatchObject({
      title: "Run 0",
      durationMinutes: 10,
      occurredAt: "2026-01-01T08:00:00.000Z",
    });

    const upd = await t.call("PATCH", `/api/v1/activities/${ids[0]}`, {
      token,
      body: { title: "Long run", description: null },
    });
    expect(upd.status).toBe(200);
    expect(upd.body.activity).toMatchObject({ title: "Long run", type: "run", durationMinutes: 10 });
    expect((await t.call("GET", `/api/v1/activities/${ids[0]}`, { token })).body.activity.title).toBe(
      "Long run",
    );
    expectErrorShape(
      await t.call("PATCH", `/api/v1/activities/${ids[0]}`, { token, body: {} }),
      400,
      "VALIDATION_FAILED",
    );
    const badUpd = await t.call("PATCH", `/api/v1/activities/${ids[0]}`, {
      token,
      body: { durationMinutes: -3, title: "" },
    });
    expect(badUpd.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      "durationMinutes",
      "title",
    ]);

    expect((await t.call("DELETE", `/api/v1/activities/${ids[1]}`, { token })).status).toBe(204);
    expectErrorShape(await t.call("GET", `/api/v1/activities/${ids[1]}`, { token }), 404, "NOT_FOUND");
    expectErrorShape(
      await t.call("GET", "/api/v1/activities/not-a-uuid", { token }),
      400,
      "VALIDATION_FAILED",
    );
    expectErrorShape(await t.call("GET", `/api/v1/activities/${ids[0]}`), 401, "UNAUTHENTICATED");
  });

  it("forbids another user's activities (403)", async () => {
    await register("erin@example.com");
    await register("frank@example.com");
    const erin = await login("erin@example.com");
    const frank = await login("frank@example.com");
    const a = await t.call("POST", "/api/v1/activities", {
      token: erin,
      body: { type: "swim", title: "Pool" },
    });
    expectErrorShape(
      await t.call("GET", `/api/v1/activities/${a.body.activity.id}`, { token: frank }),
      403,
      "FORBIDDEN",
    );
    expectErrorShape(
      await t.call("PATCH", `/api/v1/activities/${a.body.activity.id}`, {
        token: frank,
        body: { title: "x" },
      }),
      403,
      "FORBIDDEN",
    );
    expectErrorShape(
      await t.call("DELETE", `/api/v1/activities/${a.body.activity.id}`, { token: frank }),
      403,
      "FORBIDDEN",
    );
    expect((await t.call("GET", "/api/v1/activities", { token: frank })).body.pagination.total).toBe(0);
  });

  it("shows the traffic in the metrics, with route templates and per-table queries", async () => {
    const m = await t.call("GET", "/monitoring/metrics");
    const text = m.body as string;
    expect(text).toMatch(
      /^http_requests_total\{method="GET",route="\/api\/v1\/activities\/:id",status_code="200"\} \d+$/m,
    );
    expect(text).toMatch(
      /^http_requests_total\{method="POST",route="\/api\/v1\/auth\/register",status_code="409"\} 1$/m,
    );
    expect(text).toMatch(/^db_query_duration_seconds_count\{operation="insert",table="activities"\} 6$/m);
    expect(text).toMatch(/^user_registrations_total\{method="email"\} 6$/m);
    expect(text).toMatch(/^user_logins_total\{outcome="failure"\} 2$/m);
    expect(text).toMatch(/^feature_usage_total\{feature="activity_creation"\} 6$/m);
    const sessionQueries =
      /^db_query_duration_seconds_count\{operation="select",table="sessions"\} \d+$/m.test(text);
    expect(sessionQueries).toBe(!env.redis);
    expect(text).not.toMatch(/example\.com/);
  });

  it("answers 503 while its database or session store is down, and recovers", async () => {
    const svc = env.db ?? env.redis;
    if (!svc) {
      // SQLite is in-process: it cannot go away independently of the app.
      expect(t.app.db.dialect).toBe("sqlite");
      return;
    }
    await register("gina@example.com");
    const token = await login("gina@example.com");
    await svc.pause();
    try {
      const r = await t.call("GET", "/api/v1/users/me", { token });
      expectErrorShape(r, 503, "DATABASE_UNAVAILABLE");
    } finally {
      await svc.resume();
    }
    // Recovery without a restart: poll until the API answers again. Redis here keeps no data
    // across its restart, so its sessions are gone and the user logs in again.
    let ok = 0;
    for (let i = 0; i < 50 && ok !== 200; i++) {
      let current = token;
      if (env.redis) {
        const r = await t.call("POST", "/api/v1/auth/login", {
          body: { email: "gina@example.com", password: "correct horse" },
        });
        current = r.body.token;
      }
      ok = current ? (await t.call("GET", "/api/v1/users/me", { token: current })).status : 503;
      if (ok !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok).toBe(200);
    const text = (await t.call("GET", "/monitoring/metrics")).body as string;
    if (env.db) expect(text).toMatch(/^db_query_errors_total\{operation="select",table="sessions"\} [1-9]/m);
  }, 60_000);
});
