// The routing conformance suite (test-data/conformance) and the bucketing vectors
// (test-data/buckets.json) through the WebAssembly core: a host that disagrees fails, naming
// the case.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load, route, bucketOf, validateDocument, SourcegateError } from '../index.js';
import { wasmBytes, testData } from './helpers.mjs';
import suite from '../../../test-data/conformance/suite.cjs';

await load(wasmBytes());
suite.runSuite(route);

test('canary buckets match the golden vectors', () => {
  const { vectors } = testData('buckets.json');
  assert.ok(vectors.length >= 10);
  for (const v of vectors) assert.equal(bucketOf(v.installId), v.bucket, v.installId);
});

test('a document the validator refuses throws config_invalid naming the field', () => {
  assert.throws(() => validateDocument({ type: 'sideways' }),
    (e) => e instanceof SourcegateError && e.code === 'config_invalid' && e.field === 'type');
});
