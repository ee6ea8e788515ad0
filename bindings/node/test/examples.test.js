'use strict';
// node --test: the programs under examples/node run against this binding.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const examples = path.join(__dirname, '..', '..', '..', 'examples', 'node');

test('examples/node/resolve-url.js resolves with its default options', () => {
  const out = execFileSync(process.execPath, [path.join(examples, 'resolve-url.js')], { encoding: 'utf8' });
  const [url, decision] = out.trim().split('\n');
  assert.match(url, /^https:\/\/(raw\.githubusercontent\.com|cdn\.example\.com)\/.*community-plugins\.json$/);
  assert.match(decision, /^origin=(git|cdn) reason=canary bucket=\d+ threshold=2500 config=v\d+$/);
});

test('examples/node/resolve-url.js takes options and a path', () => {
  const options = JSON.stringify({
    staticConfig: { type: 'cdn', cdnUrl: 'http://127.0.0.1:9/cdn/', gitUrl: 'http://127.0.0.1:9/git/', healthCheckEnabled: false },
    healthChecks: false,
    telemetry: { enabled: false },
  });
  const out = execFileSync(process.execPath, [path.join(examples, 'resolve-url.js'), options, 'stats.json'], { encoding: 'utf8' });
  assert.equal(out.split('\n')[0], 'http://127.0.0.1:9/cdn/stats.json');
});
