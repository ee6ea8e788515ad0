// The routing conformance suite (test-data/conformance) through the Node binding: every case's
// document, origin states and install id must give the documented order, reason and URL.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { route, SourcegateError } = require('..');
const { runSuite } = require('../../../test-data/conformance/suite.cjs');

runSuite(route);

test('input the C ABI refuses throws with its status', () => {
  assert.throws(() => route({ document: { type: 'sideways' }, installId: 'a' }),
    (e) => e instanceof SourcegateError && e.code === 'SG_STATUS_CONFIG_INVALID');
});
