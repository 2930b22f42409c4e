"""Exercises plugins/sdk-python/muster_plugin.py (copied beside this file by the polyglot
test): every kind of value, optional keys, group checks, skip and fail. Its cases are
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
        return mp.changes(
            set={
                "title": mp.attribute(person, "department"),
                "active": mp.in_group(person, "zoom-users"),
                "x.count": cfg["count"],
                "x.tags": ["a", "b"],
                "x.none": None,
            },
            remove=[] if mp.target(person, "nickName") is None else ["nickName"],
        )
