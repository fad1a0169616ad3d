// The decision every adapter shares: pass the request on, or answer it (503 page or JSON, the
// bypass cookie). Pure over (request, observed state, options), so it is tested once for all.
import { createHmac, timingSafeEqual } from "node:crypto";
import { isActive, type MaintenanceState, type Observed } from "./state.ts";

export interface MaintenancePolicy {
  /** when the store cannot be read: "open" lets requests through, "closed" answers 503 (default "open") */
  failMode?: "open" | "closed";
  /** paths always served (exact or prefix + "/"), or patterns; default: health checks */
  allowPaths?: (string | RegExp)[];
  /** staff bypass: visiting `${path}/${secret}` sets a signed cookie */
  bypass?: { secret: string; path?: string; cookieName?: string; ttlSeconds?: number };
  /** replaces the built-in page; receives the state */
  html?: (state: MaintenanceState) => string;
  /** Retry-After when the state sets none (seconds, default 60) */
  retryAfter?: number;
}

export const defaultAllowPaths = ["/health", "/healthz", "/readyz", "/livez", "/api/health"];
const unsafeMethods = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface RequestFacts {
  method: string;
  /** path without the query string */
  path: string;
  cookie: string | null;
  accept: string | null;
}

export type Decision = { kind: "pass" } | { kind: "respond"; status: number; headers: Record<string, string>; body: string };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function defaultPage(state: MaintenanceState): string {
  const reason = state.reason ? `<p>${escapeHtml(state.reason)}</p>` : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Maintenance</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f5f7fa;color:#1f2933}main{max-width:32rem;padding:2rem;text-align:center}h1{font-size:1.6rem}</style></head>
<body><main><h1>Maintenance in progress</h1><p>We are upgrading the service and will be back shortly.</p>${reason}</main></body></html>`;
}

function sign(secret: string, expires: number): string {
  return createHmac("sha256", secret).update(`breakwater-bypass:${expires}`).digest("base64url");
}

export function bypassCookieValue(secret: string, ttlSeconds: number, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  return `${expires}.${sign(secret, expires)}`;
}

/** Valid signature (compared in constant time) and not expired. */
export function verifyBypassCookie(secret: string, value: string, now = Date.now()): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const expires = Number(match[1]);
  if (expires * 1000 <= now) return false;
  const expected = Buffer.from(sign(secret, expires));
  const given = Buffer.from(match[2]!);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function allowed(path: string, allow: (string | RegExp)[]): boolean {
  return allow.some((a) => (typeof a === "string" ? path === a || path.startsWith(`${a}/`) : a.test(path)));
}

export function decide(request: RequestFacts, observed: Observed, policy: MaintenancePolicy = {}, now = Date.now()): Decision {
  const bypass = policy.bypass;
  const cookieName = bypass?.cookieName ?? "breakwater_bypass";
  if (bypass) {
    const prefix = `${bypass.path ?? "/__maintenance/bypass"}/`;
    if (request.path.startsWith(prefix) && sameSecret(request.path.slice(prefix.length), bypass.secret)) {
      const ttl = bypass.ttlSeconds ?? 12 * 3600;
      return {
        kind: "respond",
        status: 302,
        headers: { location: "/", "cache-control": "no-store", "set-cookie": `${cookieName}=${bypassCookieValue(bypass.secret, ttl, now)}; Path=/; Max-Age=${ttl}; HttpOnly; SameSite=Lax` },
        body: "",
      };
    }
  }
  let state: MaintenanceState;
  if (observed.error !== null) {
    if ((policy.failMode ?? "open") === "open") return { kind: "pass" };
    state = { enabled: true, mode: "full", reason: null, since: null, retryAfter: null, until: null, runId: null };
  } else {
    state = observed.state;
  }
  if (!isActive(state, now)) return { kind: "pass" };
  if (state.mode === "read-only" && !unsafeMethods.has(request.method.toUpperCase())) return { kind: "pass" };
  if (allowed(request.path, policy.allowPaths ?? defaultAllowPaths)) return { kind: "pass" };
  if (bypass) {
    const value = cookieValue(request.cookie, cookieName);
    if (value && verifyBypassCookie(bypass.secret, value, now)) return { kind: "pass" };
  }
  const retryAfter = String(state.retryAfter ?? policy.retryAfter ?? 60);
  const wantsJson = /application\/json/i.test(request.accept ?? "") && !/text\/html/i.test(request.accept ?? "");
  const headers = { "retry-after": retryAfter, "cache-control": "no-store" };
  if (wantsJson) {
    return {
      kind: "respond",
      status: 503,
      headers: { ...headers, "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ error: "maintenance", mode: state.mode, reason: state.reason, retryAfter: Number(retryAfter), until: state.until }),
    };
  }
  return { kind: "respond", status: 503, headers: { ...headers, "content-type": "text/html; charset=utf-8" }, body: (policy.html ?? defaultPage)(state) };
}
