"""The smart-home questions (``query.*``): asking about the house instead of changing it.

Pure data, like `smarthome`, whose grammar draws these after its commands.
"""

from __future__ import annotations

from .house import DOOR, LIGHT_STATUS, SENSORS
from .templates import Spec, spec

SPECS: tuple[Spec, ...] = (
    spec("query", "temperature", 2.5, """
        q what's the temperature {loc}
        q what is the temperature {loc}
        q how warm is it {loc}
        q how cold is it {loc}
        q how hot is it {loc}
        q what temperature is it {loc}
        q how warm is {place}
        q is it warm {loc}
        t {rm} temperature
        t temperature {loc}
    """, **SENSORS),
    spec("query", "humidity", 1, """
        q what's the humidity {loc}
        q how humid is it {loc}
        q how humid is {place}
        q what is the humidity level {loc}
        t humidity {loc}
        t {rm} humidity
    """, **SENSORS),
    spec("query", "light", 1.5, """
        q are the lights on {loc}
        q did i leave the lights on {loc}
        q are {np} on
        q are {np} still on
        i check {np}
        i check the lights {loc}
        t {tnp} status
    """, **LIGHT_STATUS),
    spec("query", "lock", 1.5, """
        q is {np} locked
        q did i lock {np}
        q is {np} unlocked
        q did i leave {np} unlocked
        q did someone lock {np}
        i check {np}
        i check the lock on {np}
        t {tnp} status
        t {tnp} locked
    """, **DOOR),
    spec("query", "timer", 0.8, """
        q how much time is left on the timer
        q how long is left on my timer
        q how long until the timer goes off
        q how much longer on the timer
        t time left on the timer
        i check the timer
        t timer status
    """),
    spec("query", "time", 0.8, """
        q what time is it
        q what's the time
        q what time is it now
        q do you know what time it is
        i tell me the time
        t time check
    """),
)
"""The questions, in drawing order."""
