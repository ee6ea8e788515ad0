// Admin table writes on app_config through supabase-js and postgrest-js, as PostgREST
// documents them (references/api/tables_views: insert, update, upsert; preferences:
// return=minimal|representation; errors): update().eq(), insert(), upsert({onConflict}),
// `.select()` after a write (return=representation), none (return=minimal); refusals for
// anon (no grant: 401 42501) and for the user_metadata-admin (RLS: an UPDATE matches no row,
// an INSERT is 403 42501); app_config_history is read-only even for admins.
//
// Fixtures: `<prefix>_w_*` keys; every write uses a fresh value; marketplace_source is only
// touched by a refused write.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { LIBRARIES, ADMIN_SUB, ok, assertError, pgError, currentRow, ensureKey } from './lib.mjs'

const nonce = () => `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`

for (const lib of LIBRARIES) {
  describe(lib.name, () => {
    const anon = lib.anon()
    const admin = lib.admin()
    const user = lib.user()
    const W = `${lib.prefix}_w_update`
    const U = `${lib.prefix}_w_upsert`

    before(async () => {
      await ensureKey(admin, W, { n: 'start' }, 1)
      await ensureKey(admin, U, { n: 'start' }, 1)
    })

    test('update().eq().select(): 200 and the updated row, one version later', async () => {
      const before = await currentRow(admin, W)
      const value = { n: nonce() }
      const rows = ok(await admin.from('app_config').update({ config_value: value }).eq('config_key', W).select())
      assert.equal(rows.length, 1)
      assert.equal(rows[0].config_key, W)
      assert.equal(rows[0].version, before.version + 1)
      assert.deepEqual(rows[0].config_value, { ...value, version: before.version + 1 })
      assert.equal(rows[0].updated_by, ADMIN_SUB)
      // select() with columns, then single(): one object.
      const value2 = { n: nonce() }
      const one = ok(await admin.from('app_config').update({ config_value: value2 }).eq('config_key', W)
        .select('config_key,version').single())
      assert.deepEqual(one, { config_key: W, version: before.version + 2 })
      const h = ok(await admin.from('app_config_history').select('version,op,new_value')
        .eq('config_key', W).order('version', { ascending: false }).limit(1))
      assert.deepEqual(h, [{ version: before.version + 2, op: 'UPDATE', new_value: { ...value2, version: before.version + 2 } }])
    })

    test('update() without select(): return=minimal, 204 and no body', async () => {
      const before = await currentRow(admin, W)
      const r = await admin.from('app_config').update({ config_value: { n: nonce() } }).eq('config_key', W)
      assert.equal(r.error, null, JSON.stringify(r.error))
      assert.equal(r.status, 204)
      assert.equal(r.data, null)
      assert.equal((await currentRow(admin, W)).version, before.version + 1)
    })

    test('insert(): 201, with select() the new row at version 1', async () => {
      const key = `${lib.prefix}_w_new_${nonce()}`
      const rows = ok(await admin.from('app_config').insert({ config_key: key, config_value: { n: 1 } }).select(), 201)
      assert.equal(rows.length, 1)
      assert.equal(rows[0].config_key, key)
      assert.equal(rows[0].version, 1)
      assert.deepEqual(rows[0].config_value, { n: 1, version: 1 })
      const key2 = `${lib.prefix}_w_new_${nonce()}`
      const r = await admin.from('app_config').insert({ config_key: key2, config_value: { n: 2 } })
      assert.equal(r.error, null, JSON.stringify(r.error))
      assert.equal(r.status, 201)
      assert.equal(r.data, null)
      assert.equal((await currentRow(admin, key2)).version, 1)
      // The same key again: 409 23505. No DETAIL: PostgreSQL leaves the key value out of it for
      // a caller subject to row-level security (the admin is `authenticated`), on Supabase too.
      assertError(await admin.from('app_config').insert({ config_key: key, config_value: { n: 3 } }), 409,
        pgError('23505', 'duplicate key value violates unique constraint "app_config_config_key_key"', null))
    })

    test("upsert({onConflict: 'config_key'}): merges an existing row, inserts a new one", async () => {
      const before = await currentRow(admin, U)
      const value = { n: nonce() }
      const r = await admin.from('app_config').upsert({ config_key: U, config_value: value }, { onConflict: 'config_key' }).select()
      assert.equal(r.error, null, JSON.stringify(r.error))
      // PostgREST answers 201 to every POST upsert; since PostgREST/postgrest#2926, 200 when
      // every row was an update. Either is PostgREST; the row is what matters.
      assert.ok([200, 201].includes(r.status), `status ${r.status}`)
      assert.equal(r.data.length, 1)
      assert.equal(r.data[0].version, before.version + 1)
      assert.deepEqual(r.data[0].config_value, { ...value, version: before.version + 1 })
      const key = `${lib.prefix}_w_upsert_new_${nonce()}`
      const created = ok(await admin.from('app_config').upsert({ config_key: key, config_value: { n: 0 } }, { onConflict: 'config_key' })
        .select('config_key,version'), 201)
      assert.deepEqual(created, [{ config_key: key, version: 1 }])
    })

    test('an invalid marketplace document: refused as the RPC refuses it, nothing written', async () => {
      const before = await currentRow(admin, 'marketplace_source')
      const bad = { type: 'nope' }
      const rpc = await admin.rpc('update_app_config', { p_key: 'marketplace_source', p_value: bad })
      assert.equal(rpc.status, 422)
      const expected = { code: rpc.error.code, message: rpc.error.message, details: rpc.error.details, hint: rpc.error.hint }
      assert.equal(expected.code, 'PT422')
      assertError(await admin.from('app_config').update({ config_value: bad }).eq('config_key', 'marketplace_source').select(),
        422, expected)
      assert.equal((await currentRow(admin, 'marketplace_source')).version, before.version)
    })

    test('anon: 401 42501 for update, insert and upsert', async () => {
      const denied = pgError('42501', 'permission denied for table app_config')
      assertError(await anon.from('app_config').update({ config_value: { n: 'anon' } }).eq('config_key', W), lib.anonDeniedStatus, denied)
      assertError(await anon.from('app_config').insert({ config_key: `${lib.prefix}_w_anon`, config_value: {} }), lib.anonDeniedStatus, denied)
      assertError(await anon.from('app_config').upsert({ config_key: W, config_value: {} }, { onConflict: 'config_key' }),
        lib.anonDeniedStatus, denied)
    })

    test('user_metadata-admin: an update matches no row, an insert or upsert is 403 42501', async () => {
      const before = await currentRow(admin, W)
      const rows = ok(await user.from('app_config').update({ config_value: { n: 'user' } }).eq('config_key', W).select())
      assert.deepEqual(rows, [])
      assert.equal((await currentRow(admin, W)).version, before.version)
      const rls = pgError('42501', 'new row violates row-level security policy for table "app_config"')
      assertError(await user.from('app_config').insert({ config_key: `${lib.prefix}_w_user`, config_value: {} }), 403, rls)
      assertError(await user.from('app_config').upsert({ config_key: `${lib.prefix}_w_user`, config_value: {} }, { onConflict: 'config_key' }),
        403, rls)
      assert.equal(await currentRow(admin, `${lib.prefix}_w_user`), null)
    })

    test('app_config_history is read-only, even for an admin: 403 42501', async () => {
      const denied = pgError('42501', 'permission denied for table app_config_history')
      const h = ok(await admin.from('app_config_history').select('id').eq('config_key', W).limit(1).single())
      assertError(await admin.from('app_config_history').insert({ config_id: '00000000-0000-0000-0000-000000000000',
        config_key: W, version: 99, op: 'UPDATE' }), 403, denied)
      assertError(await admin.from('app_config_history').update({ reason: 'rewritten' }).eq('id', h.id), 403, denied)
      // Naming the GENERATED ALWAYS identity is refused while PostgreSQL rewrites the statement,
      // before any privilege check: 400 428C9 with PostgreSQL's message, as PostgREST answers.
      assertError(await admin.from('app_config_history').upsert({ id: h.id, reason: 'rewritten' }), 400,
        pgError('428C9', 'cannot insert a non-DEFAULT value into column "id"',
          'Column "id" is an identity column defined as GENERATED ALWAYS.', 'Use OVERRIDING SYSTEM VALUE to override.'))
      assertError(await admin.from('app_config_history').upsert({ config_key: W, reason: 'rewritten' }), 403, denied)
    })
  })
}
