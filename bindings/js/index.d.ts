// Types of @sourcegate/resolver (index.js).

/** The config key the resolver reads. */
export const CONFIG_KEY: 'marketplace_source';

/** Loads the WebAssembly module once: a URL, Response, bytes or WebAssembly.Module (default: the .wasm beside index.js). */
export function load(source?: string | URL | Response | BufferSource | WebAssembly.Module): Promise<void>;

/** An error with a stable code: `invalid_options`, `invalid_argument`, `config_invalid` (with `field`), `stale_version`, `invalid_path`, `no_origin`, `content_invalid`, `provider_failed`, `all_origins_failed` (with `attempts`). */
export class SourcegateError extends Error {
  code: string;
  field?: string;
  status?: number;
  attempts?: Attempt[];
}

export interface Attempt { origin: 'git' | 'cdn'; url: string; status: number | null; cause: string }

/** The canary bucket (0..10000) of an install id. */
export function bucketOf(installId: string): number;

export interface RouteInput {
  document: Record<string, unknown>;
  installId: string;
  origins?: Partial<Record<'git' | 'cdn', { unavailable?: 'rateLimited' | 'ejected' | 'unhealthy' | null; lastFailure?: number; configured?: boolean }>>;
  path?: string;
}
export interface Reason { kind: 'mode' | 'canary' | 'failover' | 'noFallback' | 'panicMode'; [k: string]: unknown }

/** One routing decision without a resolver (the conformance suite's shape). */
export function route(input: RouteInput): { order: Array<'git' | 'cdn'>; reason: Reason; url?: string };

/** Validates a document; returns its canonical form. Throws `config_invalid`. */
export function validateDocument(doc: Record<string, unknown>): Record<string, unknown>;

export type ProviderSpec =
  | { type: 'controlPlane'; url: string; token?: string }
  | { type: 'supabase'; url: string; anonKey: string }
  | { type: 'static'; document: Record<string, unknown> };

export interface StorageLike { getItem(key: string): string | null; setItem(key: string, value: string): void }

export interface Options {
  /** The Git raw base used until a document arrives, and the seed's fallback. */
  defaultGitUrl: string;
  provider?: ProviderSpec;
  installId?: string;
  /** Last-known-good document and install id (default: `localStorage` when the host has one). */
  storage?: StorageLike | null;
  /** Revalidation period when no event stream is open, ms (default 60000). */
  ttlMs?: number;
  /** Timeout of one request, ms (default 10000). */
  requestTimeoutMs?: number;
  contentCheck?: 'plugins' | 'themes' | 'json' | null;
  /**
   * Run the document's active health checks (default true): `HEAD` each origin's
   * `healthCheck.path` every `intervalSecs` ± 10 %; thresholds as in the document; a rate-limit
   * answer only starts a cooldown. `false` leaves probing to others.
   */
  healthChecks?: boolean;
  fetch?: typeof fetch;
  EventSource?: { new (url: string): { addEventListener(type: string, f: (ev: { data: string }) => void): void; close(): void } };
  /** What `load` takes, when the module must not be fetched beside index.js. */
  wasm?: Parameters<typeof load>[0];
}

export interface FetchResult { status: number; body: Uint8Array; url: string; origin: 'git' | 'cdn'; fallback: boolean }

/** The seed's counters plus the config and the origins' health. */
export interface Stats {
  totalRequests: number;
  gitRequests: number;
  cloudflareRequests: number;
  cdnRequests: number;
  fallbacks: number;
  errors: number;
  rateLimited: number;
  averageResponseTimeMs: number;
  config: { version: number; mode: string; document: Record<string, unknown> };
  health: Array<Record<string, unknown>>;
  installId: string;
  bucket: number;
}

export interface ConfigChange { version: number; mode: string; config: Record<string, unknown> }

export class MarketplaceSourceResolver {
  static create(options: Options): Promise<MarketplaceSourceResolver>;
  readonly installId: string;
  readonly bucket: number;
  resolveUrl(path: string): Promise<string>;
  reloadConfig(): Promise<void>;
  route(path: string): { order: Array<'git' | 'cdn'>; urls: string[]; reason: Reason; configVersion: number; bucket: number };
  fetch(path: string): Promise<FetchResult>;
  getStats(): Stats;
  subscribe(callback: (change: ConfigChange) => void): () => void;
  /** Stops the event stream, the revalidation timer and the health checks. */
  close(): void;
}
