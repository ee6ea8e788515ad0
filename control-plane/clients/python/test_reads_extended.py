"""PostgREST read features beyond today's subset, through postgrest-py, as PostgREST documents
them: in, like/ilike, match/imatch, not., or()/and() nested, cs/cd on jsonb, JSON paths in
filters/select/order, aliases and casts, count=exact|planned|estimated.

Fixtures: clients_py_x_a {type:cdn, tier:1} v1, _x_b {type:git, tier:2} v2, _x_c {type:cdn,
tier:3} v3, written through the admin RPC when missing.
"""

import unittest

from postgrest.types import CountMethod

from sg import PREFIX, SuiteCase

P = f"{PREFIX}_x"
XA, XB, XC = (f"{P}_{s}" for s in "abc")


class ExtendedReads(SuiteCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        case = cls()
        case.ensure_key(XA, {"type": "cdn", "tier": 1}, 1)
        case.ensure_key(XB, {"type": "git", "tier": 2}, 2)
        case.ensure_key(XC, {"type": "cdn", "tier": 3}, 3)

    def table(self, cols="config_key", **kw):
        return self.anon.pg.from_("app_config").select(cols, **kw)

    def scoped(self, cols="config_key", **kw):
        return self.table(cols, **kw).gte("config_key", f"{P}_a").lt("config_key", f"{P}_d")

    def keys(self, q):
        return [r["config_key"] for r in q.order("config_key").execute().data]

    def test_in(self):
        self.assertEqual(self.keys(self.table().in_("config_key", [XA, XC])), [XA, XC])
        self.assertEqual(self.keys(self.scoped().in_("version", [2, 3])), [XB, XC])

    def test_like_ilike(self):
        self.assertEqual(self.keys(self.table().like("config_key", f"{P}_%")), [XA, XB, XC])
        self.assertEqual(self.keys(self.table().ilike("config_key", XB.upper())), [XB])
        self.assertEqual(self.keys(self.table().like("config_key", XB.upper())), [])

    def test_match_imatch(self):
        self.assertEqual(self.keys(self.table().filter("config_key", "match", f"^{P}_[ab]$")), [XA, XB])
        self.assertEqual(self.keys(self.table().filter("config_key", "imatch", f"^{P.upper()}_C$")), [XC])
        self.assertEqual(self.keys(self.scoped().match({"config_key": XB, "version": 2})), [XB])

    def test_not(self):
        self.assertEqual(self.keys(self.scoped().not_.in_("config_key", [XA, XB])), [XC])
        self.assertEqual(self.keys(self.scoped().not_.eq("version", 1)), [XB, XC])
        self.assertEqual(self.keys(self.scoped().not_.is_("updated_by", "null")), [XA, XB, XC])

    def test_or_and(self):
        self.assertEqual(self.keys(self.scoped().or_(f"config_key.eq.{XA},and(version.gte.3,version.lte.3)")), [XA, XC])
        self.assertEqual(self.keys(self.scoped().or_("and(config_value->>type.eq.cdn,version.gt.1),version.eq.2")), [XB, XC])

    def test_contains(self):
        self.assertEqual(self.keys(self.scoped().contains("config_value", {"type": "cdn"})), [XA, XC])
        self.assertEqual(self.keys(self.scoped().contained_by(
            "config_value", {"type": "cdn", "tier": 1, "step": 1, "version": 1, "extra": True})), [XA])

    def test_json_paths(self):
        self.assertEqual(self.keys(self.scoped().eq("config_value->>type", "git")), [XB])
        self.assertEqual(self.scoped("config_key,config_value->>type").order("config_key").execute().data,
                         [{"config_key": XA, "type": "cdn"}, {"config_key": XB, "type": "git"},
                          {"config_key": XC, "type": "cdn"}])
        rows = self.scoped().order("config_value->>type", desc=True).order("config_key", desc=True).execute().data
        self.assertEqual([r["config_key"] for r in rows], [XB, XC, XA])

    def test_alias_cast(self):
        self.assertEqual(self.scoped("key:config_key,v:version::text").order("config_key").execute().data,
                         [{"key": XA, "v": "1"}, {"key": XB, "v": "2"}, {"key": XC, "v": "3"}])

    def test_count_exact(self):
        r = self.scoped(count=CountMethod.exact).order("config_key").range(0, 1).execute()
        self.assertEqual(r.count, 3)
        self.assertEqual(self.anon.status, 206)
        self.assertEqual([x["config_key"] for x in r.data], [XA, XB])

    def test_count_planned_estimated(self):
        for method in (CountMethod.planned, CountMethod.estimated):
            r = self.scoped(count=method).execute()
            self.assertEqual(len(r.data), 3)
            self.assertIsInstance(r.count, int, method)


if __name__ == "__main__":
    unittest.main()
