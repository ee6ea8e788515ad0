'use strict';
// Node.js binding of the Sourcegate C API (libsourcegate_ffi) through koffi.
//
// The wrapper mirrors the seed's MarketplaceSourceResolver: `await resolveUrl(path)`,
// `await reloadConfig()`, `getStats()`; plus `fetch`, `reportOutcome`, `onConfigChange`, the
// app lifecycle (`pause`, `resume`, `waitReady`) and `close`. Calls that may block (resolve before the first config, fetch, reload, free) run on
// libuv's thread pool through koffi's `.async`, so the JS thread stays free: Sourcegate calls
// config callbacks from its own threads and koffi queues them onto the JS thread.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

const LIB_NAMES = {
  linux: 'libsourcegate_ffi.so',
  darwin: 'libsourcegate_ffi.dylib',
  win32: 'sourcegate_ffi.dll',
};

/** Finds the cdylib: $SOURCEGATE_FFI_LIB, else $CARGO_TARGET_DIR or the repository's target/. */
function findLibrary() {
  if (process.env.SOURCEGATE_FFI_LIB) return process.env.SOURCEGATE_FFI_LIB;
  const name = LIB_NAMES[process.platform] || LIB_NAMES.linux;
  const root = path.resolve(__dirname, '..', '..');
  const dirs = [];
  if (process.env.CARGO_TARGET_DIR) dirs.push(path.resolve(root, process.env.CARGO_TARGET_DIR));
  dirs.push(path.join(root, 'target'));
  for (const d of dirs) {
    for (const profile of ['debug', 'release']) {
      const p = path.join(d, profile, name);
      if (fs.existsSync(p)) return p;
    }
  }
  throw new Error(`${name} not found (build it with \`cargo build -p sourcegate-ffi\` or set SOURCEGATE_FFI_LIB)`);
}

const lib = koffi.load(findLibrary());

const sg_resolver = koffi.opaque('sg_resolver');
const sg_resolution = koffi.struct('sg_resolution', {
  origin: 'uint32_t',
  reason: 'uint32_t',
  failover_from: 'uint32_t',
  unavailable: 'uint32_t',
  bucket: 'uint32_t',
  threshold_bp: 'uint32_t',
  config_version: 'uint64_t',
  url_len: 'size_t',
});
const sg_fetch_result = koffi.struct('sg_fetch_result', {
  body: 'void *',
  body_len: 'size_t',
  origin: 'uint32_t',
  reason: 'uint32_t',
  http_status: 'uint16_t',
  fallback: 'bool',
  failed_attempts: 'uint32_t',
  source: 'uint32_t',
});
const sg_config_event = koffi.struct('sg_config_event', {
  version: 'uint64_t',
  mode: 'uint32_t',
  json: 'const char *',
  json_len: 'size_t',
});
const sg_config_callback = koffi.proto('void sg_config_callback(void *userdata, const sg_config_event *event)');

const fn = {
  new: lib.func('uint32_t sg_resolver_new(const char *options_json, _Out_ sg_resolver **out)'),
  free: lib.func('void sg_resolver_free(sg_resolver *resolver)'),
  resolve: lib.func('uint32_t sg_resolver_resolve(sg_resolver *resolver, const char *path, uint8_t *url_buf, size_t url_buf_len, _Out_ sg_resolution *out)'),
  fetch: lib.func('uint32_t sg_resolver_fetch(sg_resolver *resolver, const char *path, _Out_ sg_fetch_result *out)'),
  reload: lib.func('uint32_t sg_resolver_reload(sg_resolver *resolver, _Out_ uint64_t *version_out)'),
  reportOutcome: lib.func('uint32_t sg_resolver_report_outcome(sg_resolver *resolver, uint32_t origin, uint16_t http_status, uint64_t retry_after_ms, uint64_t elapsed_ms, bool fallback)'),
  pause: lib.func('uint32_t sg_resolver_pause(sg_resolver *resolver)'),
  resume: lib.func('uint32_t sg_resolver_resume(sg_resolver *resolver)'),
  waitReady: lib.func('uint32_t sg_resolver_wait_ready(sg_resolver *resolver, uint64_t timeout_ms, _Out_ bool *ready_out)'),
  close: lib.func('uint32_t sg_resolver_close(sg_resolver *resolver)'),
  statsJson: lib.func('uint32_t sg_resolver_stats_json(sg_resolver *resolver, _Out_ void **out)'),
  onConfigChange: lib.func('uint32_t sg_resolver_on_config_change(sg_resolver *resolver, sg_config_callback *callback, void *userdata, _Out_ uint64_t *id_out)'),
  removeConfigCallback: lib.func('uint32_t sg_resolver_remove_config_callback(sg_resolver *resolver, uint64_t id)'),
  bucketOf: lib.func('uint32_t sg_bucket_of(const char *install_id, _Out_ uint32_t *out)'),
  routeJson: lib.func('uint32_t sg_route_json(const char *input_json, _Out_ void **out_json)'),
  lastError: lib.func('const char *sg_last_error_message()'),
  statusName: lib.func('const char *sg_status_name(uint32_t status)'),
  reasonName: lib.func('const char *sg_reason_name(uint32_t reason)'),
  stringFree: lib.func('void sg_string_free(void *s)'),
  bytesFree: lib.func('void sg_bytes_free(void *ptr, size_t len)'),
  version: lib.func('const char *sg_version()'),
};

const ORIGINS = { 1: 'git', 2: 'cdn' };
const SOURCES = { 1: 'network', 2: 'revalidated', 3: 'fresh', 4: 'stale' };
const ORIGIN_CODES = { git: 1, cdn: 2, cloudflare: 2 };
const MODES = { 1: 'git', 2: 'cdn', 3: 'hybrid', 4: 'canary' };
const UNAVAILABLE = { 0: null, 1: 'rateLimited', 2: 'ejected', 3: 'unhealthy' };

/** An error from the C API: `status` is the numeric sg_status, `code` its name. */
class SourcegateError extends Error {
  constructor(status, message) {
    super(message || fn.statusName(status));
    this.name = 'SourcegateError';
    this.status = status;
    this.code = fn.statusName(status);
  }
}

function check(status, message) {
  if (status !== 0) throw new SourcegateError(status, message !== undefined ? message : fn.lastError());
}

/** Runs a koffi function on the libuv thread pool; resolves with its status and error message. */
function callAsync(f, args) {
  return new Promise((resolve, reject) => {
    f.async(...args, (err, status) => (err ? reject(err) : resolve(status)));
  });
}

// sg_last_error_message() is per thread, and `.async` calls run on a pool thread: their
// errors carry the status name (e.g. SG_STATUS_PROVIDERS_FAILED) as message.
async function checkAsync(f, args) {
  const status = await callAsync(f, args);
  if (status !== 0) throw new SourcegateError(status, fn.statusName(status));
}

function toResolution(url, r) {
  return {
    url,
    origin: ORIGINS[r.origin],
    reason: fn.reasonName(r.reason),
    failoverFrom: ORIGINS[r.failover_from],
    unavailable: UNAVAILABLE[r.unavailable],
    bucket: r.bucket,
    thresholdBp: r.threshold_bp,
    configVersion: Number(r.config_version),
  };
}

class Resolver {
  /** @param {object} options see index.d.ts (the JSON options of sg_resolver_new). */
  constructor(options = {}) {
    const out = [null];
    check(fn.new(JSON.stringify(options), out));
    this._h = out[0];
    this._callbacks = new Map();
    this._url = Buffer.alloc(2048);
  }

  _handle() {
    if (!this._h) throw new SourcegateError(100, 'resolver is closed');
    return this._h;
  }

  /** Resolves `path` with the config held now (sync; may block once before the first config). */
  resolve(requestPath) {
    const out = {};
    check(fn.resolve(this._handle(), requestPath, this._url, this._url.length, out));
    return toResolution(this._url.toString('utf8', 0, Number(out.url_len)), out);
  }

  /** Resolves `path` to details, waiting (once, at most initTimeoutMs) for the first config. */
  async resolveDetailed(requestPath) {
    const h = this._handle();
    const buf = Buffer.alloc(2048);
    const out = {};
    const status = await callAsync(fn.resolve, [h, requestPath, buf, buf.length, out]);
    if (status !== 0) throw new SourcegateError(status, fn.statusName(status));
    return toResolution(buf.toString('utf8', 0, Number(out.url_len)), out);
  }

  /** The seed's `resolveUrl`: the full URL for `path`. */
  async resolveUrl(requestPath) {
    return (await this.resolveDetailed(requestPath)).url;
  }

  /** The seed's `reloadConfig`: fetches the config now; resolves with the version in use. */
  async reloadConfig() {
    const v = [0];
    await checkAsync(fn.reload, [this._handle(), v]);
    return Number(v[0]);
  }

  /** Fetches `path` with failover; resolves with the body (a copy) and where it came from. */
  async fetch(requestPath) {
    const out = {};
    await checkAsync(fn.fetch, [this._handle(), requestPath, out]);
    const len = Number(out.body_len);
    let body = Buffer.alloc(0);
    if (out.body && len > 0) {
      body = Buffer.from(new Uint8Array(koffi.view(out.body, len)));
      fn.bytesFree(out.body, len);
    }
    return {
      body,
      origin: ORIGINS[out.origin],
      reason: fn.reasonName(out.reason),
      status: out.http_status,
      fallback: out.fallback,
      failedAttempts: out.failed_attempts,
      source: SOURCES[out.source],
    };
  }

  /** Feeds back a request made with the host's own HTTP stack (status 0 = transport error). */
  reportOutcome(origin, { status = 0, retryAfterMs = 0, elapsedMs = 0, fallback = false } = {}) {
    const code = ORIGIN_CODES[origin];
    if (!code) throw new SourcegateError(106, `unknown origin ${origin}`);
    check(fn.reportOutcome(this._handle(), code, status, retryAfterMs, elapsedMs, fallback));
  }

  /**
   * Pauses the background work (app in the background): no probes, push stream, telemetry or
   * TTL refresh; resolve, fetch and reloadConfig still work. Sync, never blocks; idempotent.
   */
  pause() {
    check(fn.pause(this._handle()));
  }

  /** Resumes after pause(): revalidates the config at once and restarts the background work. */
  resume() {
    check(fn.resume(this._handle()));
  }

  /**
   * Resolves `true` once a config is installed (provider, cacheFile, staticConfig), `false` when
   * `timeoutMs` (milliseconds, default 5000) passes first. Runs on the thread pool.
   */
  async waitReady(timeoutMs = 5000) {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new SourcegateError(106, `timeoutMs must be a non-negative integer (ms), got ${timeoutMs}`);
    }
    const ready = [false];
    await checkAsync(fn.waitReady, [this._handle(), timeoutMs, ready]);
    return Boolean(ready[0]);
  }

  /** The seed's `getStats`: counters, latencies, config, health (sync, never blocks). */
  getStats() {
    const out = [null];
    check(fn.statsJson(this._handle(), out));
    try {
      return JSON.parse(koffi.decode(out[0], 'char', -1));
    } finally {
      fn.stringFree(out[0]);
    }
  }

  /**
   * Calls `listener({version, mode, config})` on each new config. Returns an async function
   * that unsubscribes.
   */
  onConfigChange(listener) {
    const cb = koffi.register((_userdata, evPtr) => {
      const ev = koffi.decode(evPtr, sg_config_event);
      let config = null;
      try {
        config = JSON.parse(ev.json);
      } catch {
        config = null;
      }
      try {
        listener({ version: Number(ev.version), mode: MODES[ev.mode], config });
      } catch (e) {
        process.nextTick(() => { throw e; });
      }
    }, koffi.pointer(sg_config_callback));
    const id = [0];
    try {
      check(fn.onConfigChange(this._handle(), cb, null, id));
    } catch (e) {
      koffi.unregister(cb);
      throw e;
    }
    const key = id[0];
    this._callbacks.set(key, cb);
    return async () => {
      if (!this._callbacks.has(key) || !this._h) return;
      this._callbacks.delete(key);
      await checkAsync(fn.removeConfigCallback, [this._h, key]);
      koffi.unregister(cb);
    };
  }

  /**
   * Closes the resolver: sg_resolver_close (ends the background work and sends the last
   * telemetry report, at most 6 s), then frees it; both on the thread pool, so pending callbacks
   * can still run. Idempotent; every other method throws afterwards.
   */
  async close() {
    const h = this._h;
    if (!h) return;
    this._h = null;
    await callAsync(fn.close, [h]);
    for (const [key] of this._callbacks) {
      await checkAsync(fn.removeConfigCallback, [h, key]);
    }
    await callAsync(fn.free, [h]);
    for (const cb of this._callbacks.values()) koffi.unregister(cb);
    this._callbacks.clear();
  }
}

/** The canary bucket (0..9999) of an install id (golden vectors: test-data/buckets.json). */
function bucketOf(installId) {
  const out = [0];
  check(fn.bucketOf(installId, out));
  return out[0];
}

/**
 * The route decision alone (no resolver, no I/O), through sg_route_json: `input` is
 * `{document, installId, origins: {git, cdn}, path?}` (each origin
 * `{unavailable: null|'rateLimited'|'ejected'|'unhealthy', lastFailure, configured}`); returns
 * `{order, reason, url?}`. Throws SourcegateError for input the C ABI refuses.
 */
function route(input) {
  const out = [null];
  check(fn.routeJson(JSON.stringify(input), out));
  try {
    return JSON.parse(koffi.decode(out[0], 'char', -1));
  } finally {
    fn.stringFree(out[0]);
  }
}

module.exports = { Resolver, SourcegateError, bucketOf, route, version: fn.version() };
