// @sourcegate/resolver: the seed's MarketplaceSourceResolver for every JavaScript host (browsers,
// Node >= 20, Worker runtimes), on Sourcegate's Rust core compiled to WebAssembly.
//
// The decisions (validating a document and the rollback rule, the install's canary bucket, the
// route, the origins' health / outlier / rate-limit state, Retry-After, content checks) are the
// core's, made in the WebAssembly module. This file only does I/O, and only with web-platform
// APIs: `fetch`, `AbortController`, timers, `EventSource` where the host has one, and an
// optional storage object (`localStorage` in a browser). Nothing here needs Node. Active health
// checks run here too (a `HEAD` of each origin every `healthCheck.intervalSecs` ± 10 %, when the
// document enables them); their verdicts go through the core's hysteresis, as the Rust
// resolver's do.
import initWasm, * as core from './pkg/sourcegate_wasm.js';

/** The config key the resolver reads (`app_config.config_key`). */
export const CONFIG_KEY = 'marketplace_source';

let loaded = null;

/**
 * Loads the WebAssembly module once. `source` is what wasm-bindgen's `init` accepts: a URL, a
 * `Response`, bytes or a `WebAssembly.Module`; by default the `.wasm` beside this file (browsers
 * and Workers fetch it; in Node pass the bytes, e.g. `fs.readFileSync(wasmPath)`).
 */
export async function load(source) {
  if (!loaded) {
    loaded = initWasm(source === undefined ? undefined : { module_or_path: source });
  }
  await loaded;
}

/** An error with a stable `code` (the core's codes, plus `all_origins_failed`, `provider_failed`). */
export class SourcegateError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'SourcegateError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** Runs a core call, turning its thrown `{code, message}` JSON into a SourcegateError. */
function call(f) {
  try {
    return f();
  } catch (e) {
    if (typeof e === 'string') {
      let parsed = null;
      try { parsed = JSON.parse(e); } catch { /* not JSON */ }
      if (parsed && parsed.code) throw new SourcegateError(parsed.code, parsed.message, parsed.field ? { field: parsed.field } : {});
    }
    throw e;
  }
}

/** The canary bucket (0..10000) of an install id, as every Sourcegate SDK computes it. */
export function bucketOf(installId) { return core.bucketOf(installId); }

/**
 * One routing decision without a resolver (the conformance suite's input: `{document,
 * installId, origins?, path?}`); returns `{order, reason, url?}`.
 */
export function route(input) { return JSON.parse(call(() => core.routeJson(JSON.stringify(input)))); }

/** Validates a document; returns its canonical form or throws `config_invalid` naming the field. */
export function validateDocument(doc) { return JSON.parse(call(() => core.validateDocument(JSON.stringify(doc)))); }

function randomId() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function trimSlash(u) { return String(u).replace(/\/+$/, ''); }

/**
 * Where the config document comes from:
 * - `{ type: 'controlPlane', url, token? }`: `GET {url}/v1/configs/marketplace_source` with
 *   `If-None-Match` (an unchanged config costs a 304), and its SSE stream when the host has
 *   `EventSource`;
 * - `{ type: 'supabase', url, anonKey }`: PostgREST, `GET {url}/rest/v1/app_config?...` with
 *   Supabase's `apikey` and `Authorization` headers;
 * - `{ type: 'static', document }`.
 */
class Provider {
  constructor(spec, hostFetch) {
    this.spec = spec;
    this.fetch = hostFetch;
    this.etag = null;
  }

  /** `{document, version}`, or `null` when unchanged (304). */
  async load(timeoutMs) {
    const s = this.spec;
    if (s.type === 'static') return { document: s.document, version: undefined };
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      if (s.type === 'controlPlane') {
        const headers = { accept: 'application/json' };
        if (this.etag) headers['if-none-match'] = this.etag;
        if (s.token) headers.authorization = `Bearer ${s.token}`;
        const r = await this.fetch(`${trimSlash(s.url)}/v1/configs/${CONFIG_KEY}`, { headers, signal: ctl.signal });
        if (r.status === 304) return null;
        if (r.status !== 200) throw new SourcegateError('provider_failed', `control plane answered ${r.status}`, { status: r.status });
        const env = await r.json();
        this.etag = r.headers.get('etag');
        return { document: env.value, version: env.version };
      }
      if (s.type === 'supabase') {
        const q = `select=config_value,version&config_key=eq.${CONFIG_KEY}`;
        const r = await this.fetch(`${trimSlash(s.url)}/rest/v1/app_config?${q}`, {
          headers: { apikey: s.anonKey, authorization: `Bearer ${s.anonKey}`, accept: 'application/json' },
          signal: ctl.signal,
        });
        if (r.status !== 200) throw new SourcegateError('provider_failed', `PostgREST answered ${r.status}`, { status: r.status });
        const rows = await r.json();
        if (!Array.isArray(rows) || rows.length !== 1) throw new SourcegateError('provider_failed', `expected one ${CONFIG_KEY} row, got ${Array.isArray(rows) ? rows.length : typeof rows}`);
        return { document: rows[0].config_value, version: rows[0].version };
      }
      throw new SourcegateError('invalid_options', `options.provider.type: unknown \`${s.type}\``);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The SSE URL of the control plane, or null. */
  eventsUrl() {
    return this.spec.type === 'controlPlane' ? `${trimSlash(this.spec.url)}/v1/configs/${CONFIG_KEY}/events` : null;
  }
}

const STORAGE_KEY = 'sourcegate.lastKnownGood';

/**
 * The seed's `MarketplaceSourceResolver`: `resolveUrl`, `reloadConfig`, `getStats`, plus `fetch`
 * with failover and `subscribe`. Build with `await MarketplaceSourceResolver.create(options)`:
 *
 * - `defaultGitUrl` (required): the Git raw base used until a document arrives, and the seed's
 *   fallback when a document names no second origin;
 * - `provider`: see `Provider` above (default: none, the default Git config only);
 * - `installId` (default: stored in `storage`, else random per process);
 * - `storage`: `{getItem(k), setItem(k, v)}` for the last-known-good document and the install id
 *   (default `globalThis.localStorage` when there is one);
 * - `ttlMs` (default 60000): how often the config is revalidated when no event stream is open;
 * - `requestTimeoutMs` (default 10000), `contentCheck` (`'plugins' | 'themes' | 'json' | null`,
 *   default `null`), `fetch` and `EventSource` (default: the host's globals);
 * - `healthChecks` (default `true`): run the document's active health checks (`healthCheck`:
 *   `HEAD {origin}{path}` every `intervalSecs` ± 10 %, each within `timeoutMs`; 2xx and 3xx are
 *   healthy, `healthyThreshold` / `unhealthyThreshold` consecutive results flip the verdict; a
 *   rate-limit answer only starts a cooldown, and a cooling-down origin is not probed). `false`
 *   leaves them to others (a control plane that probes for the fleet).
 */
export class MarketplaceSourceResolver {
  static async create(options = {}) {
    await load(options.wasm);
    const r = new MarketplaceSourceResolver(options);
    await r.#start();
    return r;
  }

  #core; #provider; #storage; #fetch; #EventSource; #opts; #listeners = new Set();
  #stats = { totalRequests: 0, gitRequests: 0, cloudflareRequests: 0, fallbacks: 0, errors: 0, rateLimited: 0, totalMs: 0 };
  #timer = null; #events = null; #ready; #closed = false;
  #probeTimers = []; #probeKey = null; #probeGeneration = 0;

  constructor(options) {
    if (!options.defaultGitUrl) throw new SourcegateError('invalid_options', 'options.defaultGitUrl is required');
    this.#opts = { ttlMs: 60000, requestTimeoutMs: 10000, contentCheck: null, healthChecks: true, ...options };
    this.#storage = options.storage ?? globalThis.localStorage ?? null;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#EventSource = options.EventSource ?? globalThis.EventSource ?? null;
    let installId = options.installId ?? this.#storage?.getItem('sourcegate.installId');
    if (!installId) {
      installId = randomId();
      this.#storage?.setItem('sourcegate.installId', installId);
    }
    this.#core = call(() => new core.Core(options.defaultGitUrl, installId));
    this.#provider = options.provider ? new Provider(options.provider, this.#fetch) : null;
  }

  async #start() {
    const kept = this.#storage?.getItem(STORAGE_KEY);
    if (kept) {
      try {
        const { document, version } = JSON.parse(kept);
        this.#install(document, version, false);
      } catch { /* a damaged copy is ignored: the provider's document replaces it */ }
    }
    this.#ready = this.reloadConfig().catch(() => {});
    await this.#ready;
    this.#scheduleProbes(JSON.parse(this.#core.configInfo()));
    this.#watch();
  }

  /** The install id and its canary bucket (0..10000). */
  get installId() { return this.#core.installId; }
  get bucket() { return this.#core.bucket; }

  #install(document, version, persist) {
    const info = JSON.parse(call(() => this.#core.install(JSON.stringify(document), version ?? undefined)));
    if (persist) this.#storage?.setItem(STORAGE_KEY, JSON.stringify({ document, version }));
    if (info.changed) this.#scheduleProbes(info);
    if (info.changed) for (const f of this.#listeners) { try { f({ version: info.version, mode: info.mode, config: info.document }); } catch { /* a listener's error is its own */ } }
    return info;
  }

  /** Fetches the document from the provider now and installs it (the seed's `reloadConfig`). */
  async reloadConfig() {
    if (!this.#provider) return;
    const got = await this.#provider.load(this.#opts.requestTimeoutMs);
    if (got) this.#install(got.document, got.version, true);
  }

  #watch() {
    if (this.#closed || !this.#provider) return;
    const url = this.#provider.eventsUrl();
    if (url && this.#EventSource && !this.#provider.spec.token) {
      const es = new this.#EventSource(url);
      es.addEventListener('config', (ev) => {
        try {
          const view = JSON.parse(ev.data);
          this.#install(view.value, view.version, true);
        } catch { /* a malformed or stale event changes nothing */ }
      });
      this.#events = es;
      return;
    }
    this.#timer = setInterval(() => { this.reloadConfig().catch(() => {}); }, this.#opts.ttlMs);
    this.#timer.unref?.();
  }

  /** The URL `path` resolves to now (the route's first origin). */
  async resolveUrl(path) {
    await this.#ready;
    return call(() => this.#core.resolveUrl(path, Date.now()));
  }

  /** The full decision for `path`: `{order, urls, reason, configVersion, bucket}`. */
  route(path) { return JSON.parse(call(() => this.#core.route(path, Date.now()))); }

  /**
   * Fetches `path` from the routed origin, failing over in route order on a transport error,
   * a 5xx, a rate-limit answer (429, or 403 from Git; its `Retry-After` starts a cooldown) or a
   * body refused by the content check. Returns `{status, body (Uint8Array), url, origin,
   * fallback}`; throws `all_origins_failed` with `attempts` when none served it.
   */
  async fetch(path) {
    await this.#ready;
    const plan = this.route(path);
    const attempts = [];
    const started = Date.now();
    this.#stats.totalRequests += 1;
    for (let i = 0; i < plan.order.length; i++) {
      const origin = plan.order[i];
      const url = plan.urls[i];
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), this.#opts.requestTimeoutMs);
      let status = 0; let headers = null; let body = null; let refused = null;
      try {
        const r = await this.#fetch(url, { signal: ctl.signal });
        status = r.status; headers = r.headers;
        if (status >= 200 && status < 300) {
          body = new Uint8Array(await r.arrayBuffer());
          if (this.#opts.contentCheck) {
            try { call(() => core.checkContent(this.#opts.contentCheck, path, body)); } catch (e) { refused = e.message; }
          }
        } else {
          await r.arrayBuffer().catch(() => {});
        }
      } catch (e) {
        attempts.push({ origin, url, status: null, cause: String(e?.message ?? e) });
      } finally {
        clearTimeout(timer);
      }
      const out = JSON.parse(call(() => this.#core.observe(origin, status, headers?.get('retry-after') ?? undefined,
        headers?.get('x-ratelimit-reset') ?? undefined, refused ?? undefined, Date.now(), Math.random())));
      if (out.rateLimited) this.#stats.rateLimited += 1;
      if (out.success) {
        if (origin === 'git') this.#stats.gitRequests += 1; else this.#stats.cloudflareRequests += 1;
        if (i > 0) this.#stats.fallbacks += 1;
        this.#stats.totalMs += Date.now() - started;
        return { status, body, url, origin, fallback: i > 0 };
      }
      if (status !== 0) attempts.push({ origin, url, status, cause: refused ?? `HTTP ${status}` });
    }
    this.#stats.errors += 1;
    throw new SourcegateError('all_origins_failed', `every origin failed for \`${path}\`: ${attempts.map((a) => `${a.origin} ${a.cause}`).join('; ')}`, { attempts });
  }

  /** The seed's counters (`totalRequests`, `gitRequests`, `cloudflareRequests`, `fallbacks`, `errors`), plus `rateLimited`, `averageResponseTimeMs`, the config and the origins' health. */
  getStats() {
    const s = this.#stats;
    const served = s.gitRequests + s.cloudflareRequests;
    const info = JSON.parse(this.#core.configInfo());
    return {
      totalRequests: s.totalRequests,
      gitRequests: s.gitRequests,
      cloudflareRequests: s.cloudflareRequests,
      cdnRequests: s.cloudflareRequests,
      fallbacks: s.fallbacks,
      errors: s.errors,
      rateLimited: s.rateLimited,
      averageResponseTimeMs: served ? s.totalMs / served : 0,
      config: { version: info.version, mode: info.mode, document: info.document },
      health: JSON.parse(this.#core.health(Date.now())),
      installId: this.installId,
      bucket: this.bucket,
    };
  }

  /** Calls `callback({version, mode, config})` on every config change; returns the unsubscribe function. */
  subscribe(callback) {
    this.#listeners.add(callback);
    return () => this.#listeners.delete(callback);
  }

  /**
   * (Re)starts the active health checks for the config `info` describes (`healthCheck`, as
   * `install` returns it). Unchanged settings and origins keep the running probes; any change
   * stops them, and a result that arrives for an older set of probes is dropped.
   */
  #scheduleProbes(info) {
    const hc = info.healthCheck ?? { enabled: false };
    const bases = ['git', 'cdn'].map((o) => [o, this.#core.originBase(o)]);
    const key = JSON.stringify([hc, bases]);
    if (key === this.#probeKey) return;
    this.#stopProbes();
    this.#probeKey = key;
    if (this.#closed || !hc.enabled || !this.#opts.healthChecks) return;
    const generation = this.#probeGeneration;
    for (const [origin, base] of bases) {
      if (!base) continue;
      const url = hc.path ? new URL(String(hc.path).replace(/^\/+/, ''), base).href : base;
      const next = (ms) => {
        const t = setTimeout(async () => {
          await this.#probeOnce(origin, url, hc.timeoutMs, generation);
          if (generation === this.#probeGeneration) next(hc.intervalMs * (0.9 + 0.2 * Math.random()));
        }, ms);
        t.unref?.();
        this.#probeTimers.push(t);
      };
      // Spread a fleet's first probes over the first 10 % of the interval.
      next(hc.intervalMs * 0.1 * Math.random());
    }
  }

  #stopProbes() {
    this.#probeGeneration += 1;
    for (const t of this.#probeTimers) clearTimeout(t);
    this.#probeTimers = [];
  }

  /** One health check of `origin` at `url`; its verdict goes to the core unless outdated. */
  async #probeOnce(origin, url, timeoutMs, generation) {
    const now = Date.now();
    // Never spend a rate-limited origin's quota on probes.
    if (JSON.parse(this.#core.health(now)).some((h) => h.origin === origin && h.rateLimited)) return;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let status = 0; let headers = null; let cause = null;
    try {
      const r = await this.#fetch(url, { method: 'HEAD', signal: ctl.signal });
      status = r.status; headers = r.headers;
      await r.arrayBuffer().catch(() => {});
    } catch (e) {
      cause = String(e?.message ?? e);
    } finally {
      clearTimeout(timer);
    }
    if (generation !== this.#probeGeneration) return;
    if (status === 429 || (status === 403 && origin === 'git')) {
      // A rate-limit answer says nothing about health: it only starts a cooldown.
      call(() => this.#core.observe(origin, status, headers?.get('retry-after') ?? undefined,
        headers?.get('x-ratelimit-reset') ?? undefined, undefined, Date.now(), Math.random()));
      return;
    }
    const ok = status >= 200 && status < 400;
    call(() => this.#core.probe(origin, ok, ok ? undefined : (cause ?? `HTTP ${status}`)));
  }

  /** Stops the event stream, the revalidation timer and the health checks. */
  close() {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#events?.close();
    this.#stopProbes();
  }
}
