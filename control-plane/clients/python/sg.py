"""Shared set-up of the Python conformance suites: postgrest-py's sync client, built the way an
application builds it, against the control plane that scripts/supabase-clients.sh started.

Environment: SG_BASE_URL, SG_PUBLISHABLE_KEY, SG_ADMIN_TOKEN, SG_ADMIN_SUB, SG_USER_TOKEN (see
control-plane/clients/lib.mjs). Anon is the publishable key alone (no Authorization).
"""

import os
import unittest

from postgrest import APIError, SyncPostgrestClient


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run scripts/supabase-clients.sh")
    return value


BASE = _env("SG_BASE_URL")
REST = f"{BASE}/rest/v1"
PUBLISHABLE_KEY = _env("SG_PUBLISHABLE_KEY")
ADMIN_TOKEN = _env("SG_ADMIN_TOKEN")
ADMIN_SUB = _env("SG_ADMIN_SUB")
USER_TOKEN = _env("SG_USER_TOKEN")
PREFIX = "clients_py"

GIT_DOC = {
    "type": "git",
    "priority": ["git"],
    "gitUrl": "https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/",
    "healthCheckEnabled": True,
    "fallbackOnError": True,
}
CDN_DOC = {"type": "cdn", "cdnUrl": "https://cdn.example.com/"}


class Client:
    """A postgrest-py client that also remembers the HTTP status of its last answer (the
    library's APIError carries the body only)."""

    def __init__(self, token: str | None = None):
        headers = {"apikey": PUBLISHABLE_KEY}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.pg = SyncPostgrestClient(REST, headers=headers, retry_enabled=False)
        self.status = None
        self.pg.session.event_hooks["response"].append(self._record)

    def _record(self, response):
        self.status = response.status_code

    def close(self):
        self.pg.session.close()


def pg_error(code, message, details=None, hint=None):
    """PostgREST's error body: always the four keys, None where empty."""
    return {"code": code, "message": message, "details": details, "hint": hint}


class SuiteCase(unittest.TestCase):
    """Clients for anon, the admin and the user_metadata-admin user."""

    @classmethod
    def setUpClass(cls):
        cls.anon = Client()
        cls.admin = Client(ADMIN_TOKEN)
        cls.user = Client(USER_TOKEN)

    @classmethod
    def tearDownClass(cls):
        for c in (cls.anon, cls.admin, cls.user):
            c.close()

    def assert_api_error(self, client, run, status, body):
        """Runs `run()` (an `.execute()`), expects an APIError with exactly `body` and `status`."""
        with self.assertRaises(APIError) as cm:
            run()
        self.assertEqual(client.status, status, cm.exception.json())
        self.assertEqual(cm.exception.json(), body)

    def current_row(self, key):
        r = self.admin.pg.from_("app_config").select("*").eq("config_key", key).execute()
        return r.data[0] if r.data else None

    def ensure_key(self, key, value, version=1):
        """Makes `key` exist with at least `version` versions through the admin RPC."""
        row = self.current_row(key)
        while row is None or row["version"] < version:
            step = row["version"] + 1 if row else 1
            row = self.admin.pg.rpc("update_app_config", {
                "p_key": key,
                "p_value": {**value, "step": step},
                "p_reason": "clients fixture",
                "p_expected_version": row["version"] if row else 0,
            }).execute().data
        return row


def without_version(doc):
    return {k: v for k, v in (doc or {}).items() if k != "version"}
