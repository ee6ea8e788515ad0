// The control plane's /v1 API, same origin. Every call resolves (never throws) to
// {ok, status, body, error}: `error` is a readable message built from the API's {code, message}.

const TOKEN_KEY = 'sourcegate.adminToken';

export const CONFIG_KEY = 'marketplace_source';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Decodes a JWT's payload without verifying it (display only; the server decides). */
export function jwtClaims(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
        .split('')
        .map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))
        .join(''),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

const STATUS_TEXT = {
  400: 'bad request',
  401: 'not signed in or token refused',
  403: 'admin only',
  404: 'not found',
  409: 'version conflict',
  422: 'invalid configuration',
  429: 'rate limited',
  503: 'service unavailable',
};

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    return { ok: false, status: 0, body: null, error: `network error: ${e.message}` };
  }
  let data = null;
  const text = await resp.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (resp.ok) return { ok: true, status: resp.status, body: data, error: null };
  const code = data && data.code ? data.code : STATUS_TEXT[resp.status] || 'error';
  const msg = data && data.message ? data.message : resp.statusText;
  const field = data && data.field ? ` (field ${data.field})` : '';
  let error = `${resp.status} ${code}: ${msg}${field}`;
  if (resp.status === 429) {
    const retry = resp.headers.get('retry-after');
    if (retry) error += ` — retry in ${retry} s`;
  }
  return { ok: false, status: resp.status, body: data, error };
}

export const configPath = `/v1/configs/${CONFIG_KEY}`;
