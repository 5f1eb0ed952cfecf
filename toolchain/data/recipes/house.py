"""The house the smart-home commands talk about: its rooms and doors, which devices are in
which rooms, and the words people use for each.

Pure data. A target key (``living_room``, ``front_door``) is what a command says; the tuples of
names are what an utterance may say instead. A device's entry holds the keyword arguments of
its commands' specs (`templates.spec`): the targets it can be addressed by and its nouns.
Order matters: the generator draws from these tuples by position.
"""

from __future__ import annotations

from .lines import ALL

ROOMS: dict[str, tuple[str, ...]] = {
    "kitchen": ("kitchen",),
    "living_room": ("living room", "lounge", "sitting room", "family room"),
    "bedroom": ("bedroom", "main bedroom", "master bedroom"),
    "hallway": ("hallway", "hall", "corridor"),
    "bathroom": ("bathroom", "washroom"),
    "garage": ("garage",),
    "office": ("office", "study", "home office"),
    "garden": ("garden", "backyard", "yard"),
    "dining_room": ("dining room",),
    "kids_room": ("kids room", "kids' room", "children's room", "playroom"),
    "guest_room": ("guest room", "spare room", "guest bedroom"),
    "basement": ("basement", "cellar"),
    "attic": ("attic", "loft"),
    "laundry_room": ("laundry room", "utility room"),
    "nursery": ("nursery", "baby's room"),
}
"""Room key (as used in commands) -> the ways people name it."""

DOORS: dict[str, tuple[str, ...]] = {
    "front_door": ("front door", "main door"),
    "back_door": ("back door", "rear door"),
    "garage_door": ("garage door",),
    "side_door": ("side door",),
    "patio_door": ("patio door",),
}
"""Door key (as used in ``lock.*`` and ``query.lock``) -> the ways people name it."""

EVERYWHERE = ("everywhere", "in the whole house", "in every room", "throughout the house",
              "in all the rooms")
"""{loc} for the "all" target."""
WHOLE_HOUSE = ("the whole house", "the house", "the entire house", "every room")
"""{place} for the "all" target."""

# --- which rooms have what -----------------------------------------------------------------
ALL_ROOMS = tuple(ROOMS)
_HEATED = ("kitchen", "living_room", "bedroom", "hallway", "bathroom", "office", "dining_room",
           "kids_room", "guest_room", "basement", "nursery", "attic")
_FAN_ROOMS = ("bedroom", "living_room", "office", "kitchen", "bathroom", "garage", "kids_room",
              "guest_room", "attic", "nursery")
_WINDOWED = ("living_room", "bedroom", "office", "kitchen", "dining_room", "kids_room",
             "guest_room", "nursery", "bathroom")
_TV_ROOMS = ("living_room", "bedroom", "kitchen", "office", "kids_room", "basement", "guest_room")
_MEDIA_ROOMS = ("living_room", "kitchen", "bedroom", "office", "bathroom", "garden", "garage",
                "dining_room", "basement")
_VACUUM_ROOMS = ("living_room", "kitchen", "bedroom", "hallway", "office", "dining_room",
                 "kids_room", "guest_room")
DOOR_KEYS = tuple(DOORS)
_SENSED = _HEATED + ("garden", "garage")

# --- devices: targets and nouns -------------------------------------------------------------
LIGHT = dict(targets=ALL_ROOMS + (ALL, ALL), all_nouns=("lights", "lamps"),
             nouns=("lights", "lights", "light", "lamp", "lamps", "ceiling light",
                    "overhead lights"))
HEAT_ONOFF = dict(targets=_HEATED, nouns=("heating", "heater", "heat", "radiator", "radiators",
                                          "thermostat"))
HEAT_SET = dict(targets=_HEATED, nouns=("thermostat", "heating", "temperature", "heat"))
FAN = dict(targets=_FAN_ROOMS, nouns=("fan", "fan", "fans", "ceiling fan"))
BLINDS = dict(targets=_WINDOWED + (ALL,), nouns=("blinds", "blinds", "curtains", "shades",
                                                "shutters", "blind"),
              all_nouns=("blinds", "curtains", "shades"))
TV = dict(targets=_TV_ROOMS, nouns=("tv", "tv", "television", "telly"))
MEDIA = dict(targets=_MEDIA_ROOMS + (ALL,), nouns=("music", "speaker", "speakers",
                                                  "sound system", "radio"),
             all_nouns=("speakers",))
LOCKS = dict(targets=DOOR_KEYS + (ALL,), all_nouns=("doors",))
"""Locking: one door or all of them."""
DOOR = dict(targets=DOOR_KEYS)
"""One door: unlocking and asking about a lock."""
OVEN = dict(targets=("kitchen",), nouns=("oven",), implicit_room=True)
COFFEE = dict(targets=("kitchen",), nouns=("coffee machine", "coffee maker"),
              implicit_room=True)
VACUUM = dict(targets=_VACUUM_ROOMS + (ALL,))
SPRINKLER = dict(targets=("garden",), nouns=("sprinklers", "sprinkler", "irrigation",
                                             "sprinkler system"), implicit_room=True)
SENSORS = dict(targets=_SENSED)
"""Temperature and humidity questions."""
LIGHT_STATUS = dict(targets=ALL_ROOMS, nouns=("lights", "lamps", "lights"))
"""Asking whether the lights are on."""
