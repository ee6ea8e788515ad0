// PostgREST read features beyond today's subset, through supabase-js and postgrest-js, as
// PostgREST documents them (docs.postgrest.org: references/api/tables_views,
// pagination_count, openapi; errors): `in`, `like`/`ilike`, `match`/`imatch` (regex), `not.`,
// `or(...)`/`and(...)` nested, `cs`/`cd` on jsonb, JSON paths in filters, select and order,
// select aliases and casts, `Prefer: count=exact|planned|estimated`, Range headers,
// `GET /rest/v1/` (OpenAPI), and 400 PGRST100 for a filter it cannot parse.
//
// Fixtures: `<prefix>_x_a` {type:cdn, tier:1} v1, `_x_b` {type:git, tier:2} v2,
// `_x_c` {type:cdn, tier:3} v3, written through the admin RPC when missing.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { LIBRARIES, ADMIN_SUB, ADMIN_TOKEN, ok, raw, ensureKey } from './lib.mjs'

for (const lib of LIBRARIES) {
  describe(lib.name, () => {
    const anon = lib.anon()
    const admin = lib.admin()
    const P = `${lib.prefix}_x`
    const [XA, XB, XC] = ['a', 'b', 'c'].map((s) => `${P}_${s}`)
    const scoped = (cols = 'config_key', opts) =>
      anon.from('app_config').select(cols, opts).gte('config_key', `${P}_a`).lt('config_key', `${P}_d`)
    const keys = async (q) => ok(await q.order('config_key')).map((r) => r.config_key)

    before(async () => {
      await ensureKey(admin, XA, { type: 'cdn', tier: 1 }, 1)
      await ensureKey(admin, XB, { type: 'git', tier: 2 }, 2)
      await ensureKey(admin, XC, { type: 'cdn', tier: 3 }, 3)
    })

    test('in', async () => {
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').in('config_key', [XA, XC])), [XA, XC])
      assert.deepEqual(await keys(scoped().in('version', [2, 3])), [XB, XC])
    })

    test('like and ilike (% and * wildcards)', async () => {
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').like('config_key', `${P}_%`)), [XA, XB, XC])
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').like('config_key', `${P}_*`)), [XA, XB, XC])
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').ilike('config_key', XB.toUpperCase())), [XB])
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').like('config_key', XB.toUpperCase())), [])
    })

    test('match and imatch (POSIX regex), match({..}) (eq per column)', async () => {
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').filter('config_key', 'match', `^${P}_[ab]$`)), [XA, XB])
      assert.deepEqual(await keys(anon.from('app_config').select('config_key').filter('config_key', 'imatch', `^${P.toUpperCase()}_C$`)), [XC])
      assert.deepEqual(await keys(scoped().match({ config_key: XB, version: 2 })), [XB])
    })

    test('not.', async () => {
      assert.deepEqual(await keys(scoped().not('config_key', 'in', `(${XA},${XB})`)), [XC])
      assert.deepEqual(await keys(scoped().not('version', 'eq', 1)), [XB, XC])
      assert.deepEqual(await keys(scoped().not('updated_by', 'is', null)), [XA, XB, XC])
      assert.deepEqual(await keys(scoped().not('config_value', 'cs', JSON.stringify({ type: 'cdn' }))), [XB])
    })

    test('or(...) with nested and(...)', async () => {
      assert.deepEqual(await keys(scoped().or(`config_key.eq.${XA},and(version.gte.3,version.lte.3)`)), [XA, XC])
      assert.deepEqual(await keys(scoped().or('and(config_value->>type.eq.cdn,version.gt.1),version.eq.2')), [XB, XC])
      assert.deepEqual(await keys(scoped().or('version.eq.1,not.and(version.lt.3,version.gt.1)')), [XA, XC])
    })

    test('cs / cd on jsonb: contains, containedBy', async () => {
      assert.deepEqual(await keys(scoped().contains('config_value', { type: 'cdn' })), [XA, XC])
      assert.deepEqual(await keys(scoped().contains('config_value', { type: 'git', tier: 2 })), [XB])
      assert.deepEqual(await keys(scoped().containedBy('config_value',
        { type: 'cdn', tier: 1, step: 1, version: 1, extra: true })), [XA])
    })

    test('JSON paths in filters, select and order', async () => {
      assert.deepEqual(await keys(scoped().eq('config_value->>type', 'git')), [XB])
      assert.deepEqual(await keys(scoped().gt('config_value->tier', 1)), [XB, XC])
      assert.deepEqual(ok(await scoped('config_key,config_value->>type,config_value->tier').order('config_key')),
        [{ config_key: XA, type: 'cdn', tier: 1 }, { config_key: XB, type: 'git', tier: 2 }, { config_key: XC, type: 'cdn', tier: 3 }])
      assert.deepEqual(ok(await scoped().order('config_value->>type', { ascending: false }).order('config_key', { ascending: false }))
        .map((r) => r.config_key), [XB, XC, XA])
    })

    test('select aliases and casts', async () => {
      assert.deepEqual(ok(await scoped('key:config_key,v:version::text,mode:config_value->>type').order('config_key')),
        [{ key: XA, v: '1', mode: 'cdn' }, { key: XB, v: '2', mode: 'git' }, { key: XC, v: '3', mode: 'cdn' }])
    })

    test("count: 'exact' gives a number; range() with it is 206 with the total", async () => {
      const r = await scoped('config_key', { count: 'exact' }).order('config_key').range(0, 1)
      assert.equal(r.error, null)
      assert.equal(r.count, 3)
      assert.equal(r.status, 206)
      assert.deepEqual(r.data.map((x) => x.config_key), [XA, XB])
      const all = await scoped('config_key', { count: 'exact' })
      assert.equal(all.status, 200)
      assert.equal(all.count, 3)
      const head = await scoped('config_key', { count: 'exact', head: true })
      assert.equal(head.error, null)
      assert.equal(head.data, null)
      assert.equal(head.count, 3)
    })

    test("count: 'planned' and 'estimated' give numbers", async () => {
      for (const count of ['planned', 'estimated']) {
        const r = await scoped('config_key', { count })
        assert.equal(r.error, null, `${count}: ${JSON.stringify(r.error)}`)
        assert.equal(r.data.length, 3)
        assert.ok(Number.isInteger(r.count) && r.count >= 0, `${count}: count ${r.count}`)
      }
    })
  })
}

describe('HTTP details the clients rely on', () => {
  const P = 'clients_sbjs_x'
  const path = `/app_config?select=config_key&config_key=gte.${P}_a&config_key=lt.${P}_d&order=config_key`

  test('Range header: 206 and Content-Range with count=exact, */* total without', async () => {
    const r = await raw(path, { headers: { 'Range-Unit': 'items', Range: '0-1', Prefer: 'count=exact' } })
    assert.equal(r.status, 206)
    assert.equal(r.headers.get('content-range'), '0-1/3')
    assert.deepEqual(r.json.map((x) => x.config_key), [`${P}_a`, `${P}_b`])
    const open = await raw(path, { headers: { 'Range-Unit': 'items', Range: '1-' } })
    assert.equal(open.status, 200)
    assert.equal(open.headers.get('content-range'), '1-2/*')
    assert.deepEqual(open.json.map((x) => x.config_key), [`${P}_b`, `${P}_c`])
  })

  test('an unsatisfiable range: 416 PGRST103', async () => {
    const r = await raw(path, { headers: { 'Range-Unit': 'items', Range: '10-20', Prefer: 'count=exact' } })
    assert.equal(r.status, 416)
    assert.equal(r.json.code, 'PGRST103')
    assert.deepEqual(Object.keys(r.json).sort(), ['code', 'details', 'hint', 'message'])
  })

  // As PostgREST does, the description lists what the caller's role has privileges on.
  test('GET /rest/v1/: the OpenAPI (Swagger 2.0) description of the tables and functions', async () => {
    const admin = await raw('/', { token: ADMIN_TOKEN })
    assert.equal(admin.status, 200)
    assert.match(admin.headers.get('content-type'), /^application\/openapi\+json/)
    assert.equal(admin.json.swagger, '2.0')
    for (const p of ['/app_config', '/app_config_history', '/rpc/get_marketplace_config', '/rpc/update_app_config']) {
      assert.ok(admin.json.paths[p], `admin: paths has ${p}`)
    }
    assert.ok(admin.json.definitions.app_config.properties.config_key)
    assert.ok(admin.json.definitions.app_config.properties.config_value)
    const anon = await raw('/')
    assert.equal(anon.status, 200)
    assert.ok(anon.json.paths['/app_config'], 'anon: paths has /app_config')
    assert.ok(anon.json.paths['/rpc/get_marketplace_config'], 'anon: paths has get_marketplace_config')
    assert.equal(anon.json.paths['/rpc/update_app_config'], undefined, 'anon cannot execute update_app_config')
  })

  test('a filter it cannot parse: 400 PGRST100 in the four-key shape', async () => {
    const r = await raw('/app_config?select=config_key&config_key=xyz.a')
    assert.equal(r.status, 400)
    assert.equal(r.json.code, 'PGRST100')
    assert.deepEqual(Object.keys(r.json).sort(), ['code', 'details', 'hint', 'message'])
    const bad = await raw('/app_config?select=config_key&or=(config_key.eq.a')
    assert.equal(bad.status, 400)
    assert.equal(bad.json.code, 'PGRST100')
  })
})
