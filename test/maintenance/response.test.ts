import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bypassCookieValue, decide, maintenanceOff, type MaintenanceState, type Observed, type RequestFacts, verifyBypassCookie } from "@breakwater/runtime/internal";

const on = (extra: Partial<MaintenanceState> = {}): Observed => ({ state: { ...maintenanceOff, enabled: true, ...extra }, error: null });
const get = (path = "/", extra: Partial<RequestFacts> = {}): RequestFacts => ({ method: "GET", path, cookie: null, accept: "text/html", ...extra });
const secret = "s3cret-value-for-tests";

describe("the maintenance decision", () => {
  it("passes everything when off, and answers 503 with Retry-After and no-store when on", () => {
    assert.deepEqual(decide(get(), { state: maintenanceOff, error: null }), { kind: "pass" });
    const d = decide(get(), on({ reason: "Upgrading <db>", retryAfter: 120 }));
    assert.equal(d.kind, "respond");
    if (d.kind !== "respond") return;
    assert.equal(d.status, 503);
    assert.equal(d.headers["retry-after"], "120");
    assert.equal(d.headers["cache-control"], "no-store");
    assert.match(d.headers["content-type"]!, /text\/html/);
    assert.match(d.body, /Upgrading &lt;db&gt;/, "the reason is shown, escaped");
  });

  it("answers JSON to API clients", () => {
    const d = decide(get("/api/users", { accept: "application/json" }), on({ reason: "r", mode: "full" }));
    assert.ok(d.kind === "respond");
    if (d.kind !== "respond") return;
    assert.match(d.headers["content-type"]!, /application\/json/);
    assert.deepEqual(JSON.parse(d.body), { error: "maintenance", mode: "full", reason: "r", retryAfter: 60, until: null });
  });

  it("read-only mode refuses only POST, PUT, PATCH and DELETE", () => {
    const state = on({ mode: "read-only" });
    for (const method of ["GET", "HEAD", "OPTIONS"]) assert.equal(decide(get("/", { method }), state).kind, "pass", method);
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) assert.equal(decide(get("/", { method }), state).kind, "respond", method);
  });

  it("leaves health checks and allow-listed paths open", () => {
    assert.equal(decide(get("/health"), on()).kind, "pass");
    assert.equal(decide(get("/api/health"), on()).kind, "pass");
    assert.equal(decide(get("/healthcheck"), on()).kind, "respond", "prefix match only on a path segment");
    assert.equal(decide(get("/status/x"), on(), { allowPaths: [/^\/status\//] }).kind, "pass");
  });

  it("ends by itself after `until`", () => {
    const now = Date.parse("2030-01-01T00:00:00Z");
    assert.equal(decide(get(), on({ until: "2030-01-01T00:00:01Z" }), {}, now).kind, "respond");
    assert.equal(decide(get(), on({ until: "2029-12-31T23:59:59Z" }), {}, now).kind, "pass");
  });

  it("fails open or closed when the store cannot be read", () => {
    const broken: Observed = { state: null, error: new Error("down") };
    assert.equal(decide(get(), broken).kind, "pass");
    assert.equal(decide(get(), broken, { failMode: "open" }).kind, "pass");
    const closed = decide(get(), broken, { failMode: "closed" });
    assert.ok(closed.kind === "respond" && closed.status === 503);
  });

  it("sets a signed bypass cookie from the secret link and lets staff through with it", () => {
    const policy = { bypass: { secret } };
    const d = decide(get(`/__maintenance/bypass/${secret}`), on(), policy);
    assert.ok(d.kind === "respond" && d.status === 302);
    if (d.kind !== "respond") return;
    const cookie = d.headers["set-cookie"]!;
    assert.match(cookie, /^breakwater_bypass=\d+\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax$/);
    const value = cookie.split(";")[0]!;
    assert.equal(decide(get("/", { cookie: value }), on(), policy).kind, "pass");
    assert.equal(decide(get(`/__maintenance/bypass/${secret}x`), on(), policy).kind, "respond", "a wrong secret is just a blocked request");
    assert.equal(decide(get(`/__maintenance/bypass/${secret}x`), on(), policy).kind === "respond" && (decide(get(`/__maintenance/bypass/${secret}x`), on(), policy) as { status: number }).status, 503);
  });

  it("refuses forged and expired bypass cookies", () => {
    const now = Date.now();
    const good = bypassCookieValue(secret, 60, now);
    assert.ok(verifyBypassCookie(secret, good, now));
    assert.equal(verifyBypassCookie("another-secret", good, now), false, "signed with another key");
    const [expires, mac] = good.split(".");
    assert.equal(verifyBypassCookie(secret, `${Number(expires) + 3600}.${mac}`, now), false, "expiry extended by hand");
    assert.equal(verifyBypassCookie(secret, good, now + 61_000), false, "expired");
    assert.equal(verifyBypassCookie(secret, "garbage", now), false);
    const policy = { bypass: { secret } };
    assert.equal(decide(get("/", { cookie: `breakwater_bypass=${expires}.${"A".repeat(43)}` }), on(), policy).kind, "respond");
  });
});
