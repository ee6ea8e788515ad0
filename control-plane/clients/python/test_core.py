"""The /rest/v1 subset supported today, through postgrest-py (PyPI `postgrest`): reads with
eq/neq/gt/gte/lt/lte/is, order, limit, range, single, maybe_single; both RPCs; the refusals of
anon and of a user whose user_metadata claims admin; version conflict and no-op refusal.

Fixtures: free-form keys clients_py_a/_b/_c at versions 1, 2, 3 (created when missing);
marketplace_source is read first and left at a valid document.
"""

import unittest

from sg import (ADMIN_SUB, CDN_DOC, GIT_DOC, PREFIX, SuiteCase, pg_error,
                without_version)

A, B, C = (f"{PREFIX}_{s}" for s in "abc")
LO, HI = f"{PREFIX}_a", f"{PREFIX}_d"


class CoreReads(SuiteCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        case = cls()
        case.ensure_key(A, {"name": "a"}, 1)
        case.ensure_key(B, {"name": "b"}, 2)
        case.ensure_key(C, {"name": "c"}, 3)

    def scoped(self, cols="config_key,version"):
        return self.anon.pg.from_("app_config").select(cols).gte("config_key", LO).lt("config_key", HI)

    def keys(self, q):
        return [r["config_key"] for r in q.order("config_key").execute().data]

    def test_single_marketplace_source(self):
        r = (self.anon.pg.from_("app_config").select("config_key,config_value,version")
             .eq("config_key", "marketplace_source").single().execute())
        self.assertEqual(self.anon.status, 200)
        self.assertEqual(list(r.data), ["config_key", "config_value", "version"])
        self.assertEqual(r.data["config_value"]["version"], r.data["version"])

    def test_select_star(self):
        row = self.anon.pg.from_("app_config").select("*").eq("config_key", A).single().execute().data
        self.assertEqual(sorted(row), ["config_key", "config_value", "id", "updated_at", "updated_by", "version"])
        self.assertEqual(row["config_value"], {"name": "a", "step": 1, "version": 1})
        self.assertEqual(row["updated_by"], ADMIN_SUB)

    def test_order(self):
        self.assertEqual(self.scoped().order("config_key").execute().data,
                         [{"config_key": A, "version": 1}, {"config_key": B, "version": 2},
                          {"config_key": C, "version": 3}])
        self.assertEqual([r["config_key"] for r in self.scoped().order("version", desc=True).execute().data],
                         [C, B, A])

    def test_comparisons(self):
        self.assertEqual(self.keys(self.scoped().neq("config_key", B)), [A, C])
        self.assertEqual(self.keys(self.scoped().gt("version", 1)), [B, C])
        self.assertEqual(self.keys(self.scoped().lte("version", 2)), [A, B])
        self.assertEqual(self.keys(self.scoped().lt("version", 1)), [])
        self.assertEqual(self.keys(self.scoped().eq("version", 3)), [C])
        self.assertEqual(self.keys(self.scoped().gt("config_key", A).lte("config_key", C)), [B, C])

    def test_is(self):
        self.assertEqual(self.scoped().is_("updated_by", "null").execute().data, [])
        self.assertEqual(self.keys(self.scoped().eq("updated_by", ADMIN_SUB)), [A, B, C])

    def test_limit_range(self):
        self.assertEqual(self.keys(self.scoped().limit(2)), [A, B])
        self.assertEqual([r["config_key"] for r in self.scoped().order("config_key").range(1, 2).execute().data], [B, C])

    def test_maybe_single(self):
        none = (self.anon.pg.from_("app_config").select("*").eq("config_key", f"{PREFIX}_missing")
                .maybe_single().execute())
        self.assertIsNone(none)
        one = self.anon.pg.from_("app_config").select("config_key").eq("config_key", B).maybe_single().execute()
        self.assertEqual(one.data, {"config_key": B})

    def test_single_refusals(self):
        q = self.anon.pg.from_("app_config").select("*").eq("config_key", f"{PREFIX}_missing")
        self.assert_api_error(self.anon, lambda: q.single().execute(), 406,
                              pg_error("PGRST116", "Cannot coerce the result to a single JSON object",
                                       "The result contains 0 rows"))
        self.assert_api_error(self.anon, lambda: self.scoped().single().execute(), 406,
                              pg_error("PGRST116", "Cannot coerce the result to a single JSON object",
                                       "The result contains 3 rows"))

    def test_unknown_table(self):
        self.assert_api_error(self.anon, lambda: self.anon.pg.from_("nope").select("*").execute(), 404,
                              pg_error("PGRST205", "Could not find the table 'public.nope' in the schema cache"))

    def test_history(self):
        rows = (self.admin.pg.from_("app_config_history").select("version,op,reason,changed_by")
                .eq("config_key", C).order("version").execute().data)
        self.assertEqual([(r["version"], r["op"], r["reason"]) for r in rows],
                         [(1, "INSERT", "clients fixture"), (2, "UPDATE", "clients fixture"),
                          (3, "UPDATE", "clients fixture")])
        self.assertTrue(all(r["changed_by"] == ADMIN_SUB for r in rows))
        self.assert_api_error(self.anon, lambda: self.anon.pg.from_("app_config_history").select("*").execute(),
                              401, pg_error("42501", "permission denied for table app_config_history"))


class CoreRpc(SuiteCase):
    def test_get_marketplace_config(self):
        row = self.current_row("marketplace_source")
        self.assertEqual(self.anon.pg.rpc("get_marketplace_config", {}).execute().data, row["config_value"])
        self.assertEqual(self.anon.pg.rpc("get_marketplace_config", {}, get=True).execute().data,
                         row["config_value"])

    def test_update_app_config(self):
        before = self.current_row("marketplace_source")
        nxt = GIT_DOC if without_version(before["config_value"]).get("type") == "cdn" else CDN_DOC
        args = {"p_key": "marketplace_source", "p_value": nxt}
        self.assert_api_error(self.anon, lambda: self.anon.pg.rpc("update_app_config", args).execute(), 401,
                              pg_error("42501", "permission denied for function update_app_config"))
        self.assert_api_error(self.user, lambda: self.user.pg.rpc("update_app_config", args).execute(), 403,
                              pg_error("42501", "admin privileges required"))
        self.assertEqual(self.current_row("marketplace_source")["version"], before["version"])

        row = self.admin.pg.rpc("update_app_config", {
            **args, "p_reason": "postgrest-py core", "p_expected_version": before["version"],
        }).execute().data
        v = before["version"] + 1
        self.assertEqual(row["version"], v)
        self.assertEqual(row["config_value"], {**nxt, "version": v})

        stale = {"p_key": "marketplace_source", "p_value": before["config_value"],
                 "p_expected_version": before["version"]}
        self.assert_api_error(self.admin, lambda: self.admin.pg.rpc("update_app_config", stale).execute(), 409,
                              pg_error("PT409", f"version conflict: expected {before['version']}, current {v}",
                                       f"current_version={v}"))
        self.assert_api_error(self.admin, lambda: self.admin.pg.rpc("update_app_config", args).execute(), 409,
                              pg_error("PT409", f"no change: the document equals version {v}", "no_change",
                                       "pass p_force => true to record it as a new version anyway"))
        h = (self.admin.pg.from_("app_config_history").select("version,reason")
             .eq("config_key", "marketplace_source").order("version", desc=True).limit(1).execute().data)
        self.assertEqual(h, [{"version": v, "reason": "postgrest-py core"}])

    def test_unknown_function(self):
        self.assert_api_error(self.anon, lambda: self.anon.pg.rpc("nope", {}).execute(), 404,
                              pg_error("PGRST202", "Could not find the function public.nope() in the schema cache"))


if __name__ == "__main__":
    unittest.main()
