// supabase-js created with a publishable key (`sb_publishable_…`, Supabase's non-JWT API keys),
// the key new Supabase projects hand out. supabase-js sends it twice: as `apikey` and, with no
// session, as `Authorization: Bearer sb_publishable_…`. Supabase's gateway accepts that
// pair and runs the request as `anon`; a control plane that verifies every Bearer as a JWT
// answers 401 PGRST301 instead. These tests expect the gateway's behaviour.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { supabase, PUBLISHABLE_KEY, ADMIN_TOKEN, ok, assertError, pgError } from './lib.mjs'

describe('supabase-js with a publishable key', () => {
  const anon = supabase(PUBLISHABLE_KEY)

  test('reads as anon', async () => {
    const row = ok(await anon.from('app_config').select('config_key,version')
      .eq('config_key', 'marketplace_source').single())
    assert.equal(row.config_key, 'marketplace_source')
    assert.ok(row.version >= 1)
    const doc = ok(await anon.rpc('get_marketplace_config'))
    assert.equal(doc.version, row.version)
  })

  test('is anon for writes: 401 42501', async () => {
    assertError(await anon.rpc('update_app_config', { p_key: 'marketplace_source', p_value: {} }), 401,
      pgError('42501', 'permission denied for function update_app_config'))
  })

  test('a user token still takes precedence over the key', async () => {
    const admin = supabase(PUBLISHABLE_KEY, ADMIN_TOKEN)
    const rows = ok(await admin.from('app_config_history').select('version').limit(1))
    assert.equal(rows.length, 1)
  })
})
