// Types of the Sourcegate Node.js binding (index.js).

/**
 * Options of a resolver: the JSON options of `sg_resolver_new` (all optional; an unknown field
 * is refused with `SG_STATUS_INVALID_OPTIONS` naming it).
 */
export interface ResolverOptions {
  /** Git base URL used when no config can be had (default: the Obsidian releases repository). */
  defaultGitUrl?: string;
  /** Control plane base URL (native API with ETags and SSE push). */
  controlPlaneUrl?: string;
  /** Bearer token sent to the control plane. */
  controlPlaneToken?: string;
  /** Supabase project URL (PostgREST); goes with `supabaseKey`. */
  supabaseUrl?: string;
  /** Supabase publishable key. */
  supabaseKey?: string;
  /** A fixed config document. */
  staticConfig?: MarketplaceConfigDocument;
  /** A JSON config file, re-read on each reload. */
  staticConfigFile?: string;
  /** Install id for sticky canary bucketing. */
  installId?: string;
  /** File holding the install id (created if absent). */
  installIdFile?: string;
  /** Last-known-good config file. */
  cacheFile?: string;
  /** Config freshness, ms (default 300000). */
  cacheTtlMs?: number;
  /** Longest wait for the first config, ms (default 5000). */
  initTimeoutMs?: number;
  /** Timeout of one origin request, ms (default 30000). */
  requestTimeoutMs?: number;
  /** Run active health checks when the document enables them (default true). */
  healthChecks?: boolean;
  /** Path probed by health checks when the document gives none. */
  healthCheckPath?: string;
  /** Follow the control plane's push stream (default true). */
  push?: boolean;
  /**
   * Fleet telemetry (counter deltas and a SHA-256 of the install id, never the id). On by
   * default toward a control plane's `/v1/telemetry`; `{ enabled: false }` turns it off.
   */
  telemetry?: TelemetryOptions;
  /** Backoff base after failed config fetches and push reconnects, ms (default 1000, at least 1). */
  backoffBaseMs?: number;
  /** Backoff cap, ms (default 300000, at least `backoffBaseMs`). Full jitter: random(0, min(cap, base × 2^n)). */
  backoffCapMs?: number;
  /** HTTP caching of fetched bodies, RFC 9111: fresh bodies cost no request, stale ones a conditional request (default true). */
  httpCache?: boolean;
  /** Where fetched bodies are persisted (default: `<cacheFile>.bodies` beside `cacheFile`; none without one). */
  bodyCacheDir?: string;
  /** Most bytes the body cache holds (default 67108864, 64 MiB). */
  bodyCacheMaxBytes?: number;
  /** Serve a stale kept body when every origin fails (default true). */
  staleIfError?: boolean;
  /** What a 2xx body must be, else the fetch fails over (default `auto`: JSON for `.json` paths). */
  contentCheck?: 'none' | 'auto' | 'json' | 'plugins' | 'themes';
  /** Largest body accepted after decompression, bytes (default 33554432, 32 MiB). */
  maxBodyBytes?: number;
  /** Longest wait for the next bytes of a response, ms (default 10000), apart from `requestTimeoutMs`. */
  readIdleTimeoutMs?: number;
  /**
   * No network request of any kind (default false): only `staticConfig`/`staticConfigFile`, the
   * `cacheFile` and the built-in default; no probes, push or telemetry; `fetch` serves kept
   * bodies only, else rejects with `SG_STATUS_OFFLINE`.
   */
  offline?: boolean;
}

/** The `telemetry` option (every field optional; an absent one keeps the default). */
export interface TelemetryOptions {
  /** Master switch (default true); false sends nothing, even with an endpoint. */
  enabled?: boolean;
  /** Where reports are POSTed, an http(s) URL (default: the control plane's `/v1/telemetry`; none without one). */
  endpoint?: string;
  /** Mean time between reports, ms (default 60000, at least 10; each wait drawn in ±10 %). */
  intervalMs?: number;
}

/** The `marketplace_source` document (docs/seed.md, S2, extended). */
export interface MarketplaceConfigDocument {
  type: 'git' | 'cdn' | 'cloudflare' | 'hybrid' | 'canary';
  priority?: Array<'git' | 'cdn' | 'cloudflare'>;
  gitUrl?: string;
  cdnUrl?: string;
  cloudflareUrl?: string;
  canaryPercent?: number;
  healthCheckEnabled?: boolean;
  fallbackOnError?: boolean;
  version?: number;
  [extra: string]: unknown;
}

export type Origin = 'git' | 'cdn';
export type Reason = 'mode' | 'canary' | 'failover' | 'panicMode' | 'noFallback';

export interface Resolution {
  url: string;
  origin: Origin;
  reason: Reason;
  /** For `failover`: the preferred origin that was skipped. */
  failoverFrom: Origin;
  /** For `failover` / `noFallback`: why the preferred origin is skipped. */
  unavailable: 'rateLimited' | 'ejected' | 'unhealthy' | null;
  /** For `canary`: the install's bucket (0..9999). */
  bucket: number;
  /** For `canary`: canaryPercent × 100. */
  thresholdBp: number;
  configVersion: number;
}

export interface FetchResponse {
  body: Buffer;
  origin: Origin;
  reason: Reason;
  status: number;
  fallback: boolean;
  failedAttempts: number;
  /** Where the body came from: the network, a kept copy revalidated (304) or fresh, or a stale copy (every origin failed). */
  source: 'network' | 'revalidated' | 'fresh' | 'stale';
}

export interface OriginStats {
  requests: number;
  failures: number;
  rateLimited: number;
}

/** `getStats()`: the seed's counters plus latencies, config and health. */
export interface Stats {
  totalRequests: number;
  gitRequests: number;
  cdnRequests: number;
  cloudflareRequests: number;
  fallbacks: number;
  errors: number;
  rateLimited: number;
  averageResponseTimeMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Fetches served from a fresh kept body, with no request. */
  fresh: number;
  /** Fetches served from a kept body after a 304. */
  revalidated: number;
  /** Fetches served from a stale kept body because every origin failed. */
  stale: number;
  /** Bytes of 2xx bodies received, after decompression. */
  networkBodyBytes: number;
  /** Persisted body-cache files found damaged and ignored. */
  bodyCacheCorrupt: number;
  /** 2xx bodies refused by the content check, the size cap or the read-idle timeout. */
  contentCheckFailures: number;
  /** Bodies whose size or SHA-256 differed from the document's `integrity` entry for their path (refused 2xx bodies plus kept bodies dropped unserved); not counted in `contentCheckFailures`. */
  integrityFailures: number;
  git: OriginStats;
  cdn: OriginStats;
  /** The config in use; `installedAt` is RFC 3339 in UTC with milliseconds (`2026-12-04T21:25:11.123Z`). */
  config: { version: number; source: unknown; installedAt: string; document: MarketplaceConfigDocument };
  health: Array<Record<string, unknown>>;
  installId: string;
  bucket: number;
}

export interface ConfigChange {
  version: number;
  mode: 'git' | 'cdn' | 'hybrid' | 'canary';
  config: MarketplaceConfigDocument | null;
}

export interface Outcome {
  /** HTTP status, or 0 for a transport error. */
  status?: number;
  retryAfterMs?: number;
  elapsedMs?: number;
  fallback?: boolean;
}

export class SourcegateError extends Error {
  /** Numeric sg_status (grouped by hundreds). */
  readonly status: number;
  /** Its name, e.g. `SG_STATUS_INVALID_OPTIONS`. */
  readonly code: string;
}

export class Resolver {
  constructor(options?: ResolverOptions);
  /** Resolves with the config held now (sync; may block once, before the first config). */
  resolve(path: string): Resolution;
  /** Resolves on the thread pool, waiting once (at most initTimeoutMs) for the first config. */
  resolveDetailed(path: string): Promise<Resolution>;
  /** The seed's `resolveUrl`. */
  resolveUrl(path: string): Promise<string>;
  /** The seed's `reloadConfig`; resolves with the config version in use afterwards. */
  reloadConfig(): Promise<number>;
  /** Fetches with failover. */
  fetch(path: string): Promise<FetchResponse>;
  /** Feeds back a request made with the host's own HTTP stack. */
  reportOutcome(origin: Origin | 'cloudflare', outcome?: Outcome): void;
  /** The seed's `getStats`. */
  getStats(): Stats;
  /** Subscribes to config changes; resolves the returned function to unsubscribe. */
  onConfigChange(listener: (change: ConfigChange) => void): () => Promise<void>;
  /** Pauses the background work (no probes, push stream, telemetry or TTL refresh); sync. */
  pause(): void;
  /** Resumes after `pause()`: revalidates the config at once, restarts the background work. */
  resume(): void;
  /** `true` once a config is installed, `false` when `timeoutMs` (ms, default 5000) passes first. */
  waitReady(timeoutMs?: number): Promise<boolean>;
  /** Ends the background work, sends the last telemetry report (at most 6 s), frees the native resolver. */
  close(): Promise<void>;
}

/** Canary bucket (0..9999) of an install id. */
export function bucketOf(installId: string): number;

/** An origin's state for {@link route}. */
export interface OriginState {
  unavailable?: null | 'rateLimited' | 'ejected' | 'unhealthy';
  /** When it last failed (any monotonic unit; 0 = never). */
  lastFailure?: number;
  /** Default: whether the document has its URL. */
  configured?: boolean;
}

/** The route decision alone, through sg_route_json (no resolver, no I/O). */
export function route(input: {
  document: object;
  installId: string;
  origins?: { git?: OriginState; cdn?: OriginState };
  path?: string;
}): {
  order: ('git' | 'cdn')[];
  reason: { kind: 'mode' | 'canary' | 'failover' | 'panicMode' | 'noFallback'; [k: string]: unknown };
  url?: string;
};

/** Version of libsourcegate_ffi. */
export const version: string;
