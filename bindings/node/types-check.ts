// Type-checked (tsc -p tsconfig.json, run by run-tests.sh) use of the typed wrapper: keeps index.d.ts
// honest about the seed's API shape. Not executed.
import { Resolver, SourcegateError, bucketOf, version, type Stats, type Resolution, type ResolverOptions } from '.';

async function seedUsage(): Promise<void> {
  const resolver = new Resolver({ supabaseUrl: 'https://x.supabase.co', supabaseKey: 'k', cacheTtlMs: 300_000 });
  const quiet: ResolverOptions = { controlPlaneUrl: 'https://cp.example', telemetry: { enabled: false }, backoffBaseMs: 500, backoffCapMs: 60_000 };
  const reporting: ResolverOptions = { telemetry: { enabled: true, endpoint: 'https://t.example/v1/telemetry', intervalMs: 30_000 } };
  const url: string = await resolver.resolveUrl('api/plugins');
  await resolver.reloadConfig();
  const stats: Stats = resolver.getStats();
  const line = `Git: ${stats.gitRequests}, CDN: ${stats.cloudflareRequests}, errors ${stats.errors}, fallbacks ${stats.fallbacks}, total ${stats.totalRequests}`;
  const r: Resolution = resolver.resolve('community-plugins.json');
  const origin: 'git' | 'cdn' = r.origin;
  const resp = await resolver.fetch('community-plugins.json');
  const body: Buffer = resp.body;
  resolver.reportOutcome('cloudflare', { status: 429, retryAfterMs: 1000, elapsedMs: 12 });
  const off = resolver.onConfigChange((c) => console.log(c.version, c.mode, c.config?.type));
  await off();
  resolver.pause();
  resolver.resume();
  const ready: boolean = await resolver.waitReady(2_000);
  const offline: ResolverOptions = { offline: true, cacheFile: '/var/lib/app/sourcegate.json' };
  console.log(ready, offline);
  await resolver.close();
  try {
    new Resolver({ defaultGitUrl: 'bad' });
  } catch (e) {
    if (e instanceof SourcegateError) console.log(e.status, e.code);
  }
  console.log(url, line, origin, body.length, bucketOf('install-0001'), version, quiet, reporting);
}
void seedUsage;
