// Sign-in: the pasted token, who the server says it is (admin, read-only), permissions.
import { getToken, setToken, jwtClaims, configPath, api } from '/admin/api.js';
import { $, $$, state, notice } from '/admin/common.js';
import { loadTab } from '/admin/tabs.js';

export async function signIn(token) {
  setToken(token);
  await refreshIdentity(true);
}

export async function refreshIdentity(announce = false) {
  const token = getToken();
  state.signedIn = !!token;
  state.admin = false;
  let whoText = 'not signed in';
  if (token) {
    // The server decides: an admin can read the history, anyone else gets 403.
    const r = await api('GET', `${configPath}/history?limit=1`);
    const claims = jwtClaims(token) || {};
    const who = claims.sub ? `${claims.role} ${String(claims.sub).slice(0, 8)}…` : claims.role || 'token';
    if (r.ok) {
      state.admin = true;
      whoText = `admin (${who})`;
      if (announce) notice('Signed in as admin.', 'ok');
    } else if (r.status === 403) {
      whoText = `read-only (${who})`;
      if (announce) notice(`This token is not an admin's: read-only view (${r.error}).`, 'warn');
    } else if (r.status === 401) {
      setToken('');
      state.signedIn = false;
      notice(`Token refused: ${r.error}`, 'error');
    } else {
      whoText = `unknown (${who})`;
      notice(`Could not check the token: ${r.error}`, 'error');
    }
  }
  $('#who').textContent = whoText;
  $('#who').className = `badge ${state.admin ? 'admin' : state.signedIn ? 'user' : ''}`;
  $('#signout-btn').hidden = !state.signedIn;
  $('#token').hidden = state.signedIn;
  $('#signin-btn').hidden = state.signedIn;
  $('#token').value = '';
  document.body.classList.toggle('is-admin', state.admin);
  applyPermissions();
  state.history = null;
  if (state.tab !== 'source') loadTab(state.tab);
}

export function applyPermissions() {
  for (const e of $$('.admin-only')) e.disabled = !state.admin;
  const ro = $('#readonly');
  if (state.admin) {
    ro.hidden = true;
  } else {
    ro.hidden = false;
    ro.textContent = state.signedIn
      ? 'Read-only: this token is not an admin’s. Changes, origin tests and the history need an admin token.'
      : 'Read-only: sign in with an admin JWT (e.g. `sourcegate-control-plane mint-token --role service_role`) to make changes.';
  }
}

