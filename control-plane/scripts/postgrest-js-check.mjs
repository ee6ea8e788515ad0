// Checks the /rest/v1 subset with Supabase's own JS client (@supabase/postgrest-js v1).
// Not part of `cargo test` (it needs npm). Usage, against a running control plane:
//   npm install @supabase/postgrest-js@1
//   ADMIN=$(sourcegate-control-plane mint-token --role authenticated --admin) \
//   BASE=http://127.0.0.1:8080 node control-plane/scripts/postgrest-js-check.mjs
// Exits non-zero on the first mismatch. Leaves marketplace_source one version newer (cdn mode).
import { PostgrestClient } from '@supabase/postgrest-js'
import assert from 'node:assert/strict'

const url = `${process.env.BASE ?? 'http://127.0.0.1:8080'}/rest/v1`
const anon = new PostgrestClient(url, { headers: { apikey: 'sb_publishable_check' } })
const admin = new PostgrestClient(url, {
  headers: { apikey: 'sb_publishable_check', Authorization: `Bearer ${process.env.ADMIN}` },
})

let r = await anon.from('app_config').select('config_key,config_value,version')
  .eq('config_key', 'marketplace_source').single()
assert.equal(r.status, 200); assert.equal(r.error, null)
const current = r.data.version
r = await anon.from('app_config').select('*').eq('config_key', 'nope').maybeSingle()
assert.equal(r.error, null); assert.equal(r.data, null)
r = await anon.rpc('get_marketplace_config')
assert.equal(r.status, 200); assert.equal(r.data.version, current)
const doc = { type: 'cdn', cdnUrl: 'https://cdn.example.com/' }
r = await anon.rpc('update_app_config', { p_key: 'marketplace_source', p_value: doc })
assert.equal(r.status, 401); assert.equal(r.error.code, '42501')
r = await admin.rpc('update_app_config',
  { p_key: 'marketplace_source', p_value: doc, p_reason: 'postgrest-js check', p_expected_version: current })
assert.equal(r.status, 200); assert.equal(r.data.version, current + 1)
r = await admin.rpc('update_app_config',
  { p_key: 'marketplace_source', p_value: doc, p_expected_version: current })
assert.equal(r.status, 409); assert.equal(r.error.code, 'PT409')
r = await admin.from('app_config_history').select('version,reason').order('version', { ascending: false }).limit(1)
assert.equal(r.data[0].reason, 'postgrest-js check')
console.log('postgrest-js: all checks passed')
