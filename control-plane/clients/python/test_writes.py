"""Admin table writes on app_config through postgrest-py, as PostgREST documents them:
update().eq(), insert(), upsert(on_conflict='config_key'), returning=representation (the
library's default) and minimal; anon (401 42501), the user_metadata-admin (RLS: no row
updated, insert 403 42501); app_config_history read-only.
"""

import time
import unittest
import uuid

from postgrest.types import ReturnMethod

from sg import ADMIN_SUB, PREFIX, SuiteCase, pg_error

W = f"{PREFIX}_w_update"
U = f"{PREFIX}_w_upsert"


def nonce():
    return f"{time.time_ns()}-{uuid.uuid4().hex[:6]}"


class Writes(SuiteCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        case = cls()
        case.ensure_key(W, {"n": "start"}, 1)
        case.ensure_key(U, {"n": "start"}, 1)

    def t(self, client):
        return client.pg.from_("app_config")

    def test_update_representation(self):
        before = self.current_row(W)
        value = {"n": nonce()}
        r = self.t(self.admin).update({"config_value": value}).eq("config_key", W).execute()
        self.assertEqual(self.admin.status, 200)
        self.assertEqual(len(r.data), 1)
        self.assertEqual(r.data[0]["version"], before["version"] + 1)
        self.assertEqual(r.data[0]["config_value"], {**value, "version": before["version"] + 1})
        self.assertEqual(r.data[0]["updated_by"], ADMIN_SUB)

    def test_update_minimal(self):
        before = self.current_row(W)
        self.t(self.admin).update({"config_value": {"n": nonce()}}, returning=ReturnMethod.minimal) \
            .eq("config_key", W).execute()
        self.assertEqual(self.admin.status, 204)
        self.assertEqual(self.current_row(W)["version"], before["version"] + 1)

    def test_insert(self):
        key = f"{PREFIX}_w_new_{nonce()}"
        r = self.t(self.admin).insert({"config_key": key, "config_value": {"n": 1}}).execute()
        self.assertEqual(self.admin.status, 201)
        self.assertEqual([(x["config_key"], x["version"], x["config_value"]) for x in r.data],
                         [(key, 1, {"n": 1, "version": 1})])
        self.assert_api_error(self.admin, lambda: self.t(self.admin).insert(
            {"config_key": key, "config_value": {"n": 2}}).execute(), 409,
            # No DETAIL: PostgreSQL leaves the key value out for a caller subject to RLS.
            pg_error("23505", 'duplicate key value violates unique constraint "app_config_config_key_key"',
                     None))

    def test_upsert(self):
        before = self.current_row(U)
        value = {"n": nonce()}
        r = self.t(self.admin).upsert({"config_key": U, "config_value": value}, on_conflict="config_key").execute()
        self.assertIn(self.admin.status, (200, 201))  # 200 for all-updates since PostgREST#2926
        self.assertEqual(r.data[0]["version"], before["version"] + 1)
        self.assertEqual(r.data[0]["config_value"], {**value, "version": before["version"] + 1})
        key = f"{PREFIX}_w_upsert_new_{nonce()}"
        r = self.t(self.admin).upsert({"config_key": key, "config_value": {"n": 0}}, on_conflict="config_key").execute()
        self.assertEqual(self.admin.status, 201)
        self.assertEqual(r.data[0]["version"], 1)

    def test_anon_refused(self):
        denied = pg_error("42501", "permission denied for table app_config")
        self.assert_api_error(self.anon, lambda: self.t(self.anon).update({"config_value": {}}).eq("config_key", W).execute(),
                              401, denied)
        self.assert_api_error(self.anon, lambda: self.t(self.anon).insert(
            {"config_key": f"{PREFIX}_w_anon", "config_value": {}}).execute(), 401, denied)

    def test_user_metadata_admin_refused(self):
        before = self.current_row(W)
        r = self.t(self.user).update({"config_value": {"n": "user"}}).eq("config_key", W).execute()
        self.assertEqual(self.user.status, 200)
        self.assertEqual(r.data, [])
        self.assertEqual(self.current_row(W)["version"], before["version"])
        self.assert_api_error(self.user, lambda: self.t(self.user).insert(
            {"config_key": f"{PREFIX}_w_user", "config_value": {}}).execute(), 403,
            pg_error("42501", 'new row violates row-level security policy for table "app_config"'))
        self.assertIsNone(self.current_row(f"{PREFIX}_w_user"))

    def test_history_read_only(self):
        denied = pg_error("42501", "permission denied for table app_config_history")
        h = self.admin.pg.from_("app_config_history").select("id").eq("config_key", W).limit(1).execute().data[0]
        self.assert_api_error(self.admin, lambda: self.admin.pg.from_("app_config_history").insert(
            {"config_id": str(uuid.UUID(int=0)), "config_key": W, "version": 99, "op": "UPDATE"}).execute(), 403, denied)
        self.assert_api_error(self.admin, lambda: self.admin.pg.from_("app_config_history").update(
            {"reason": "rewritten"}).eq("id", h["id"]).execute(), 403, denied)


if __name__ == "__main__":
    unittest.main()
