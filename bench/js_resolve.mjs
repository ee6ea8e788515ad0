// resolveUrl per call in Node: through the WebAssembly package (@sourcegate/resolver) and
// through the C ABI with koffi (bindings/node), on the same canary document; prints ns per call
// (best of 5 runs of N calls). Run by bench/js_resolve.sh, which adds the Rust call's figure
// from the ffi_vs_rust bench in the same run.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const N = Number(process.env.SG_BENCH_N || 200000);
const DOC = { type: 'canary', canaryPercent: 50, cdnUrl: 'http://127.0.0.1:9/cdn/', gitUrl: 'http://127.0.0.1:9/git/', healthCheckEnabled: false, version: 3 };
const P = 'community-plugins.json';

function best(f) {
  let b = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    f();
    b = Math.min(b, Number(process.hrtime.bigint() - t));
  }
  return b / N;
}
async function bestAsync(f) {
  let b = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    await f();
    b = Math.min(b, Number(process.hrtime.bigint() - t));
  }
  return b / N;
}

const js = await import(path.join(root, 'bindings', 'js', 'index.js'));
await js.load(fs.readFileSync(path.join(root, 'bindings', 'js', 'pkg', 'sourcegate_wasm_bg.wasm')));
const r = await js.MarketplaceSourceResolver.create({
  defaultGitUrl: 'http://127.0.0.1:9/git/', installId: 'install-0001', storage: null,
  provider: { type: 'static', document: DOC },
});
const want = await r.resolveUrl(P);
const wasmAsync = await bestAsync(async () => { for (let i = 0; i < N; i++) await r.resolveUrl(P); });
const wasmRoute = best(() => { for (let i = 0; i < N; i++) r.route(P); });
r.close();

const require = createRequire(import.meta.url);
const { Resolver } = require(path.join(root, 'bindings', 'node'));
const k = new Resolver({ staticConfig: DOC, installId: 'install-0001' });
const got = k.resolve(P).url;
if (got !== want) throw new Error(`the two hosts disagree: ${got} vs ${want}`);
const koffiSync = best(() => { for (let i = 0; i < N; i++) k.resolve(P); });
const koffiAsync = await bestAsync(async () => { for (let i = 0; i < N; i++) await k.resolveUrl(P); });
await k.close?.();

const wasm = fs.statSync(path.join(root, 'bindings', 'js', 'pkg', 'sourcegate_wasm_bg.wasm')).size;
console.log(`node ${process.version}, ${N} calls, best of 5, ${want}`);
console.log(`wasm  await resolver.resolveUrl(path)      ${wasmAsync.toFixed(1).padStart(8)} ns/call`);
console.log(`wasm  resolver.route(path) (sync, full)    ${wasmRoute.toFixed(1).padStart(8)} ns/call`);
console.log(`koffi resolver.resolve(path) (sync)        ${koffiSync.toFixed(1).padStart(8)} ns/call`);
console.log(`koffi await resolver.resolveUrl(path)      ${koffiAsync.toFixed(1).padStart(8)} ns/call`);
console.log(`package: sourcegate_wasm_bg.wasm ${wasm} bytes; index.js ${fs.statSync(path.join(root, 'bindings', 'js', 'index.js')).size} bytes; glue ${fs.statSync(path.join(root, 'bindings', 'js', 'pkg', 'sourcegate_wasm.js')).size} bytes`);
