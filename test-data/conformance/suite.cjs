// The routing conformance suite for JavaScript hosts (the Node binding, the WebAssembly
// package): loads every case of this folder and checks one host's `route()` against it, with
// node:test, so each host runs the same cases the same way. CommonJS, so both `require` and
// `import` load it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

/** Every case of the `*.json` files of this folder, files in name order. */
function cases() {
  return fs.readdirSync(__dirname).filter((f) => f.endsWith('.json')).sort()
    .flatMap((f) => JSON.parse(fs.readFileSync(path.join(__dirname, f), 'utf8')).cases);
}

/**
 * Registers one test per case (and one that the suite is there) calling `route(input)`,
 * which must return `{order, reason, url}` as `expect` says.
 */
function runSuite(route) {
  const all = cases();
  test('the suite is there', () => { assert.ok(all.length >= 20, `${all.length} cases`); });
  for (const c of all) {
    test(`conformance: ${c.name}`, () => {
      const input = { document: c.document, installId: c.installId, origins: c.origins };
      if (c.path !== undefined) input.path = c.path;
      const got = route(input);
      assert.deepEqual(got.order, c.expect.order);
      assert.deepEqual(got.reason, c.expect.reason);
      if (c.expect.url !== undefined) assert.equal(got.url, c.expect.url);
    });
  }
}

module.exports = { cases, runSuite };
