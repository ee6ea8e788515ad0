// The /rest/v1 subset supported today (control-plane/src/rest/mod.rs), through supabase-js and
// postgrest-js: table reads with eq/neq/gt/gte/lt/lte/is, order, limit, range, single,
// maybeSingle; both RPCs; the refusals of anon and of a user whose user_metadata claims admin;
// the version conflict and the no-op refusal. Data and exact error bodies.
//
// Fixtures: each library writes its own free-form keys (`<prefix>_a`, `_b`, `_c` at versions
// 1, 2, 3) through the admin RPC, created only when missing, so the file is independent of the
// order files run in. marketplace_source is read first and left at a valid document.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { createClient } from '@supabase/supabase-js'
import {
  LIBRARIES, ADMIN_SUB, assertError, ok, pgError, raw, currentRow, ensureKey,
  GIT_DOC, CDN_DOC, withoutVersion, supabase, ANON_KEY, BASE,
} from './lib.mjs'

test('supabase-js: createClient needs realtime.transport (ws) below Node 22', () => {
  const major = Number(process.versions.node.split('.')[0])
  const bare = () => createClient(BASE, ANON_KEY, { auth: { persistSession: false } })
  if (major >= 22) {
    // Node 22+ has a global WebSocket: createClient() works without a transport.
    assert.equal(typeof bare().from, 'function')
  } else {
    // Without a transport createClient() throws, though the app never opens a channel.
    assert.throws(bare, /without native WebSocket support/)
  }
  // With `ws` as the transport (lib.mjs), it works on every Node.
  assert.equal(typeof supabase(ANON_KEY).from, 'function')
})

for (const lib of LIBRARIES) {
  describe(lib.name, () => {
    const anon = lib.anon()
    const admin = lib.admin()
    const user = lib.user()
    const [A, B, C] = ['a', 'b', 'c'].map((s) => `${lib.prefix}_${s}`)
    // Every fixture key sorts between these two bounds, nothing else does.
    const LO = `${lib.prefix}_a`
    const HI = `${lib.prefix}_d`
    const scoped = (client, cols = 'config_key,version') =>
      client.from('app_config').select(cols).gte('config_key', LO).lt('config_key', HI)

    before(async () => {
      await ensureKey(admin, A, { lib: lib.name, name: 'a' }, 1)
      await ensureKey(admin, B, { lib: lib.name, name: 'b' }, 2)
      await ensureKey(admin, C, { lib: lib.name, name: 'c' }, 3)
    })

    test('select … eq … single: the seeded marketplace_source row', async () => {
      const r = await anon.from('app_config').select('config_key,config_value,version')
        .eq('config_key', 'marketplace_source').single()
      const row = ok(r)
      assert.deepEqual(Object.keys(row), ['config_key', 'config_value', 'version'])
      assert.equal(row.config_key, 'marketplace_source')
      assert.ok(Number.isInteger(row.version) && row.version >= 1)
      assert.equal(row.config_value.version, row.version)
      assert.ok(['git', 'cdn'].includes(row.config_value.type))
    })

    test('select *: every column of app_config', async () => {
      const row = ok(await anon.from('app_config').select('*').eq('config_key', A).single())
      assert.deepEqual(Object.keys(row).sort(),
        ['config_key', 'config_value', 'id', 'updated_at', 'updated_by', 'version'])
      assert.deepEqual(row.config_value, { lib: lib.name, name: 'a', step: 1, version: 1 })
      assert.equal(row.updated_by, ADMIN_SUB)
      assert.match(row.id, /^[0-9a-f-]{36}$/)
    })

    test('gte + lt + order: the three fixture rows, ascending and descending', async () => {
      assert.deepEqual(ok(await scoped(anon).order('config_key')),
        [{ config_key: A, version: 1 }, { config_key: B, version: 2 }, { config_key: C, version: 3 }])
      assert.deepEqual(ok(await scoped(anon).order('version', { ascending: false })).map((r) => r.config_key),
        [C, B, A])
    })

    test('neq, gt, lte, lt, eq on a bigint', async () => {
      const keys = async (q) => ok(await q.order('config_key')).map((r) => r.config_key)
      assert.deepEqual(await keys(scoped(anon).neq('config_key', B)), [A, C])
      assert.deepEqual(await keys(scoped(anon).gt('version', 1)), [B, C])
      assert.deepEqual(await keys(scoped(anon).lte('version', 2)), [A, B])
      assert.deepEqual(await keys(scoped(anon).lt('version', 1)), [])
      assert.deepEqual(await keys(scoped(anon).eq('version', 3)), [C])
      assert.deepEqual(await keys(scoped(anon).gt('config_key', A).lte('config_key', C)), [B, C])
    })

    test('is null / is not set', async () => {
      // The fixtures were written by the admin (updated_by = its sub), never null.
      assert.deepEqual(ok(await scoped(anon).is('updated_by', null)), [])
      const rows = ok(await scoped(anon, 'config_key,updated_by').eq('updated_by', ADMIN_SUB).order('config_key'))
      assert.deepEqual(rows.map((r) => r.config_key), [A, B, C])
    })

    test('limit and range', async () => {
      assert.deepEqual(ok(await scoped(anon).order('config_key').limit(2)).map((r) => r.config_key), [A, B])
      assert.deepEqual(ok(await scoped(anon).order('config_key').range(1, 2)).map((r) => r.config_key), [B, C])
      assert.deepEqual(ok(await scoped(anon).order('config_key', { ascending: false }).range(2, 5)).map((r) => r.config_key), [A])
    })

    test('maybeSingle: null without an error for no row, the object for one', async () => {
      const none = await anon.from('app_config').select('*').eq('config_key', `${lib.prefix}_missing`).maybeSingle()
      assert.equal(none.error, null)
      assert.equal(none.data, null)
      const one = ok(await anon.from('app_config').select('config_key').eq('config_key', B).maybeSingle())
      assert.deepEqual(one, { config_key: B })
    })

    test('single: 406 PGRST116 for 0 rows and for several', async () => {
      assertError(await anon.from('app_config').select('*').eq('config_key', `${lib.prefix}_missing`).single(), 406,
        pgError('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 0 rows'))
      assertError(await scoped(anon).single(), 406,
        pgError('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 3 rows'))
    })

    test('unknown table: 404 PGRST205', async () => {
      assertError(await anon.from('nope').select('*'), 404,
        pgError('PGRST205', "Could not find the table 'public.nope' in the schema cache"))
    })

    test('app_config_history: admins read it, anon is refused', async () => {
      const rows = ok(await admin.from('app_config_history').select('config_key,version,op,reason,changed_by')
        .eq('config_key', C).order('version'))
      assert.deepEqual(rows.map((r) => [r.version, r.op, r.reason]),
        [[1, 'INSERT', 'clients fixture'], [2, 'UPDATE', 'clients fixture'], [3, 'UPDATE', 'clients fixture']])
      assert.ok(rows.every((r) => r.changed_by === ADMIN_SUB))
      const denied = await anon.from('app_config_history').select('*').limit(1)
      assertError(denied, lib.anonDeniedStatus,
        pgError('42501', 'permission denied for table app_config_history'))
    })

    test('rpc get_marketplace_config: the live document, for anon', async () => {
      const row = await currentRow(admin, 'marketplace_source')
      const doc = ok(await anon.rpc('get_marketplace_config'))
      assert.deepEqual(doc, row.config_value)
      // GET too (postgrest-js sends `get: true` calls as GET with the arguments in the query).
      assert.deepEqual(ok(await anon.rpc('get_marketplace_config', {}, { get: true })), row.config_value)
    })

    test('rpc update_app_config: admin writes, conflict, no-op, refusals', async () => {
      const before = await currentRow(admin, 'marketplace_source')
      const next = withoutVersion(before.config_value).type === 'cdn' ? GIT_DOC : CDN_DOC
      const reason = `${lib.name} core`

      // Refused for anon (no grant: 42501 without a JWT is 401) …
      assertError(await anon.rpc('update_app_config', { p_key: 'marketplace_source', p_value: next }),
        lib.anonDeniedStatus, pgError('42501', 'permission denied for function update_app_config'))
      // … and for a user whose user_metadata claims admin (403: authenticated, not admin).
      assertError(await user.rpc('update_app_config', { p_key: 'marketplace_source', p_value: next }),
        403, pgError('42501', 'admin privileges required'))
      assert.equal((await currentRow(admin, 'marketplace_source')).version, before.version, 'nothing written')

      // The admin's write: the new row, one version later.
      const row = ok(await admin.rpc('update_app_config', {
        p_key: 'marketplace_source', p_value: next, p_reason: reason, p_expected_version: before.version,
      }))
      assert.equal(row.config_key, 'marketplace_source')
      assert.equal(row.version, before.version + 1)
      assert.deepEqual(row.config_value, { ...next, version: before.version + 1 })
      assert.equal(row.updated_by, ADMIN_SUB)

      // A stale expected version: 409 PT409, current version in details.
      assertError(await admin.rpc('update_app_config', {
        p_key: 'marketplace_source', p_value: before.config_value, p_expected_version: before.version,
      }), 409, pgError('PT409', `version conflict: expected ${before.version}, current ${before.version + 1}`,
        `current_version=${before.version + 1}`))

      // The same document again: 409 PT409 no_change.
      assertError(await admin.rpc('update_app_config', { p_key: 'marketplace_source', p_value: next }), 409,
        pgError('PT409', `no change: the document equals version ${before.version + 1}`, 'no_change',
          'pass p_force => true to record it as a new version anyway'))

      // The history row carries the reason; the public RPC serves the new document.
      const h = ok(await admin.from('app_config_history').select('version,reason,op')
        .eq('config_key', 'marketplace_source').order('version', { ascending: false }).limit(1))
      assert.deepEqual(h, [{ version: before.version + 1, reason, op: 'UPDATE' }])
      assert.deepEqual(ok(await anon.rpc('get_marketplace_config')), row.config_value)
    })

    test('rpc: unknown function 404 PGRST202, wrong arguments 404 PGRST202', async () => {
      assertError(await anon.rpc('nope'), 404,
        pgError('PGRST202', 'Could not find the function public.nope() in the schema cache'))
      assertError(await admin.rpc('update_app_config', { p_key: 'x' }), 404,
        pgError('PGRST202', 'Could not find the function public.update_app_config(p_key) in the schema cache'))
    })
  })
}

test('raw error bodies have exactly the four keys', async () => {
  const r = await raw('/app_config?select=*&config_key=eq.none', {
    headers: { Accept: 'application/vnd.pgrst.object+json' },
  })
  assert.equal(r.status, 406)
  assert.deepEqual(r.json, pgError('PGRST116', 'Cannot coerce the result to a single JSON object', 'The result contains 0 rows'))
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'details', 'hint', 'message'])
})
