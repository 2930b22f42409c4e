"""Exercises plugins/sdk-python/muster_plugin.py (copied beside this file by the polyglot
test): every kind of value, optional keys, target attributes named by a well-known case, by a
string naming one and by any other path, group checks, app roles, skip and fail. Its cases are
`../helpers-cases.json`, shared with the JavaScript twin."""

import wit_world

import muster_plugin as mp


class WitWorld(wit_world.WitWorld):
    def transform(self, person, config):
        cfg = mp.config(config, {"mode": str}, {"count": (int, 3)})
        if cfg["mode"] == "skip":
            return mp.skip("asked to skip")
        if cfg["mode"] == "fail":
            mp.fail("asked-to-fail", "the configuration asked for a failure")
        if cfg["mode"] == "groups":
            # Direct and nested groups, the path to a nested one, app roles.
            group = mp.group(person, "zoom-users")
            return mp.changes(set={
                "x.group": None if group is None else mp.group_path(group),
                "x.member": mp.in_group(person, "zoom-users"),
                "x.direct": mp.in_group(person, "zoom-users", transitive=False),
                "x.admin": mp.has_app_role(person, "Admin"),
            })
        return mp.changes(
            set={
                mp.WellKnown.TITLE: mp.attribute(person, "department"),
                "active": mp.in_group(person, "zoom-users"),
                "x.count": cfg["count"],
                "x.tags": ["a", "b"],
                "x.none": None,
            },
            # `nickName` arrives as the well-known case; the string names it.
            remove=[] if mp.target(person, "nickName") is None else ["nickName"],
        )
