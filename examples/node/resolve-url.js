'use strict';
// Resolves one registry path with the Node binding (bindings/node), from options given as JSON
// on the command line, and prints the URL and why it was chosen.
//
//   node examples/node/resolve-url.js [OPTIONS_JSON] [PATH]
//
// Without options it uses a fixed CDN config and turns telemetry off, so it needs no network:
// resolving only decides the URL, it does not fetch it.
const { Resolver } = require('../../bindings/node');

const options = process.argv[2]
  ? JSON.parse(process.argv[2])
  : {
      staticConfig: {
        type: 'canary',
        canaryPercent: 25,
        gitUrl: 'https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/',
        cdnUrl: 'https://cdn.example.com/obsidian-releases/',
        healthCheckEnabled: false,
      },
      installId: 'example-install',
      healthChecks: false,
      push: false,
      telemetry: { enabled: false },
      backoffBaseMs: 500,
      backoffCapMs: 60000,
    };
const registryPath = process.argv[3] || 'community-plugins.json';

async function main() {
  const resolver = new Resolver(options);
  try {
    const url = await resolver.resolveUrl(registryPath);
    const r = resolver.resolve(registryPath);
    console.log(url);
    console.log(`origin=${r.origin} reason=${r.reason} bucket=${r.bucket} threshold=${r.thresholdBp} config=v${r.configVersion}`);
  } finally {
    await resolver.close();
  }
}

main().catch((e) => {
  console.error(`${e.code || 'error'}: ${e.message}`);
  process.exitCode = 1;
});
