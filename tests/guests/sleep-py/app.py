"""Waits on the clock in Python, as its config's `wait` says: `"sleep"` calls `time.sleep` for an
hour, `"spin"` reads `time.monotonic()` until an hour has passed without sleeping. The host's
clocks are virtual: the sleep ends at once and moves the clock an hour; the spin never ends, and
the call's deadline stops it."""

import json
import time

import wit_world
from componentize_py_types import Err
from wit_world.imports import types

HOUR = 3600


class WitWorld(wit_world.WitWorld):
    def decide(self, person, current, config):
        wait = json.loads(config).get("wait")
        started = time.monotonic()
        wall = time.time()
        if wait == "sleep":
            time.sleep(HOUR)
        elif wait == "spin":
            while time.monotonic() - started < HOUR:
                pass
        else:
            raise Err(types.PluginError(code="invalid-config", message=f"unknown wait {wait!r}"))
        return types.LicenseDecision_NoChange(
            f"monotonic +{int(time.monotonic() - started)}s, wall +{int(time.time() - wall)}s"
        )
