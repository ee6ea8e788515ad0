// The routing conformance suite (test-data/conformance) and the bucketing vectors
// (test-data/buckets.json) through the WebAssembly core: a host that disagrees fails, naming
// the case.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { load, route, bucketOf, validateDocument, SourcegateError } from '../index.js';
import { root, wasmBytes, testData } from './helpers.mjs';

await load(wasmBytes());
const dir = path.join(root, 'test-data', 'conformance');
const cases = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).cases);

test('the suite is there', () => { assert.ok(cases.length >= 20, `${cases.length} cases`); });

for (const c of cases) {
  test(`conformance: ${c.name}`, () => {
    const input = { document: c.document, installId: c.installId, origins: c.origins };
    if (c.path !== undefined) input.path = c.path;
    const got = route(input);
    assert.deepEqual(got.order, c.expect.order);
    assert.deepEqual(got.reason, c.expect.reason);
    if (c.expect.url !== undefined) assert.equal(got.url, c.expect.url);
  });
}

test('canary buckets match the golden vectors', () => {
  const { vectors } = testData('buckets.json');
  assert.ok(vectors.length >= 10);
  for (const v of vectors) assert.equal(bucketOf(v.installId), v.bucket, v.installId);
});

test('a document the validator refuses throws config_invalid naming the field', () => {
  assert.throws(() => validateDocument({ type: 'sideways' }),
    (e) => e instanceof SourcegateError && e.code === 'config_invalid' && e.field === 'type');
});
