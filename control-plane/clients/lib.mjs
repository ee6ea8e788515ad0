// Shared set-up of the JS conformance suites: the clients under test, built the way an
// application builds them, against the control plane that scripts/supabase-clients.sh started.
//
// Environment (exported by scripts/supabase-clients.sh):
//   SG_BASE_URL         http://127.0.0.1:PORT (the control plane; /rest/v1 is under it)
//   SG_ANON_KEY         a legacy anon key (an HS256 JWT with role=anon), what supabase-js gets
//   SG_PUBLISHABLE_KEY  a non-JWT key (sb_publishable_…): the apikey of the postgrest-js clients
//   SG_ADMIN_TOKEN      role=authenticated, app_metadata.role=admin, sub=SG_ADMIN_SUB
//   SG_ADMIN_SUB        the admin token's user id
//   SG_USER_TOKEN       role=authenticated whose user_metadata (user-editable) claims admin
//                       while app_metadata does not: never an admin
import assert from 'node:assert/strict'
import { createClient } from '@supabase/supabase-js'
import { PostgrestClient } from '@supabase/postgrest-js'
// supabase-js 2.x builds a Realtime client in createClient() even when the app never
// subscribes; on Node < 22 (no global WebSocket) createClient() throws "Node.js 20 detected
// without native WebSocket support" unless a WebSocket implementation is passed as
// `realtime.transport`. The `ws` package is what supabase-js documents for that.
import WebSocket from 'ws'

function required(name) {
  const v = process.env[name]
  assert.ok(v, `${name} is not set: run scripts/supabase-clients.sh`)
  return v
}

export const BASE = required('SG_BASE_URL')
export const REST = `${BASE}/rest/v1`
export const ANON_KEY = required('SG_ANON_KEY')
export const PUBLISHABLE_KEY = required('SG_PUBLISHABLE_KEY')
export const ADMIN_TOKEN = required('SG_ADMIN_TOKEN')
export const ADMIN_SUB = required('SG_ADMIN_SUB')
export const USER_TOKEN = required('SG_USER_TOKEN')

// No session handling: these clients only talk to /rest/v1 (no /auth/v1 on this service).
const auth = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false }

/** supabase-js with `key` as the project key and, optionally, a user's access token. */
export function supabase(key, token) {
  return createClient(BASE, key, {
    auth,
    realtime: { transport: WebSocket },
    ...(token ? { accessToken: async () => token } : {}),
  })
}

/** postgrest-js pointed at /rest/v1, as an app that uses it without supabase-js does. */
export function postgrest(token) {
  return new PostgrestClient(REST, {
    headers: { apikey: PUBLISHABLE_KEY, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  })
}

/**
 * The clients under test, by role. The two libraries have the same query-builder API
 * (supabase-js's `from`/`rpc` are postgrest-js's), so every suite runs once per library.
 * supabase-js's anon client uses the legacy anon JWT: with an `sb_publishable_…` key it sends
 * that key as `Authorization: Bearer`, which publishable-key.test.mjs covers.
 */
export const LIBRARIES = [
  {
    name: 'supabase-js',
    prefix: 'clients_sbjs',
    anon: () => supabase(ANON_KEY),
    admin: () => supabase(ANON_KEY, ADMIN_TOKEN),
    user: () => supabase(ANON_KEY, USER_TOKEN),
    // The legacy anon key is a JWT with role anon: 42501 is still 401, since the status
    // follows the role (anon → 401, any other → 403), as PostgREST's table of statuses says.
    anonDeniedStatus: 401,
  },
  {
    name: 'postgrest-js',
    prefix: 'clients_pgjs',
    anon: () => postgrest(),
    admin: () => postgrest(ADMIN_TOKEN),
    user: () => postgrest(USER_TOKEN),
    anonDeniedStatus: 401,
  },
]

/** PostgREST's error body: always the four keys, null where empty. */
export function pgError(code, message, details = null, hint = null) {
  return { code, message, details, hint }
}

/** Asserts a failed response: status, and the error object's four keys exactly. */
export function assertError(r, status, body) {
  assert.equal(r.status, status, `status (${JSON.stringify(r.error)})`)
  assert.equal(r.data, null)
  assert.ok(r.error, 'an error')
  // postgrest-js builds a PostgrestError (an Error subclass): compare its four fields.
  const got = { code: r.error.code, message: r.error.message, details: r.error.details, hint: r.error.hint }
  assert.deepEqual(got, body)
}

/** Asserts a successful response and returns its data. */
export function ok(r, status = 200) {
  assert.equal(r.error, null, `unexpected error: ${JSON.stringify(r.error)}`)
  assert.equal(r.status, status)
  return r.data
}

/** The raw HTTP answer of a request (for the body's exact keys, which clients may reshape). */
export async function raw(path, { method = 'GET', token, key = PUBLISHABLE_KEY, headers = {}, body } = {}) {
  const res = await fetch(`${REST}${path}`, {
    method,
    headers: {
      apikey: key,
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json = null
  try { json = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json }
}

/** The current row of `key` (or null), read as admin. */
export async function currentRow(client, key) {
  const r = await client.from('app_config').select('*').eq('config_key', key).maybeSingle()
  assert.equal(r.error, null, JSON.stringify(r.error))
  return r.data
}

/**
 * Makes `key` exist with at least `version` versions (free-form keys: any JSON object), via
 * the admin RPC; an existing row at that version or later is left as it is. Returns the row.
 */
export async function ensureKey(admin, key, value, version = 1) {
  let row = await currentRow(admin, key)
  while (!row || row.version < version) {
    const r = await admin.rpc('update_app_config', {
      p_key: key,
      p_value: { ...value, step: row ? row.version + 1 : 1 },
      p_reason: 'clients fixture',
      p_expected_version: row ? row.version : 0,
    })
    row = ok(r)
  }
  return row
}

/** The two valid marketplace documents the suites alternate between. */
export const GIT_DOC = {
  type: 'git',
  priority: ['git'],
  gitUrl: 'https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/',
  healthCheckEnabled: true,
  fallbackOnError: true,
}
export const CDN_DOC = { type: 'cdn', cdnUrl: 'https://cdn.example.com/' }

/** `doc` without the `version` the server stamps into stored objects. */
export function withoutVersion(doc) {
  const { version, ...rest } = doc ?? {}
  return rest
}
