"""The smart-home commands: what can be asked of each device, and the ways to ask it.

Pure data, in the template format of `templates` (one ``<kind> <text>`` line a template) and
with the devices and places of `house`; the questions are in `questions`. `GRAMMAR` is what
the generator draws from. Order and weights matter: the generator draws specs by weight and
templates by position, so reordering anything here changes the corpus.
"""

from __future__ import annotations

from . import questions
from .house import (BLINDS, COFFEE, DOOR, DOORS, EVERYWHERE, FAN, HEAT_ONOFF, HEAT_SET, LIGHT,
                    LOCKS, MEDIA, OVEN, ROOMS, SPRINKLER, TV, VACUUM, WHOLE_HOUSE)
from .templates import Grammar, Spec, spec

SWITCH_ON = """
    i turn on {np}
    i turn {np} on
    i switch on {np}
"""
"""How any switchable device is turned on; the first templates of its ``on`` command."""

SWITCH_OFF = """
    i turn off {np}
    i turn {np} off
    i switch off {np}
"""
"""How any switchable device is turned off; the first templates of its ``off`` command."""

_COMMANDS: tuple[Spec, ...] = (
    # --- lights -----------------------------------------------------------------------------
    spec("light", "on", 6, SWITCH_ON + """
        i switch {np} on
        i put {np} on
        i light up {place}
        t {tnp} on
        t lights on {loc}
        t i need some light {loc}
        t it's too dark {loc}
    """, **LIGHT),
    spec("light", "off", 6, SWITCH_OFF + """
        i switch {np} off
        i shut off {np}
        i kill {np}
        t {tnp} off
        t lights out {loc}
        t no more lights {loc}
    """, **LIGHT),
    spec("light", "set", 3, """
        i set {np} to {v}
        i put {np} at {v}
        i change {np} to {v}
        i turn {np} to {v}
        i set the brightness {loc} to {v}
        i make {np} {v}
        t {tnp} to {v}
        t {tnp} {v}
        t brightness {v} {loc}
    """, value="percent", **LIGHT),
    spec("light", "dim", 3, """
        i dim {np} by {v}
        i lower {np} by {v}
        i turn down {np} by {v}
        i turn {np} down by {v}
        t {tnp} down {v}
        i dim {np}
        i dim the lights {loc}
        i turn {np} down
        i make {np} dimmer
        i lower {np}
        t {tnp} dimmer
        t {tnp} down a bit
        t too bright {loc}
    """, value="points", optional=True, **LIGHT),
    spec("light", "brighten", 3, """
        i brighten {np} by {v}
        i turn up {np} by {v}
        i turn {np} up by {v}
        i raise {np} by {v}
        i increase {np} by {v}
        t {tnp} up {v}
        i brighten {np}
        i turn {np} up
        i make {np} brighter
        i brighten up {place}
        t {tnp} brighter
        t more light {loc}
    """, value="points", optional=True, **LIGHT),

    # --- heating ----------------------------------------------------------------------------
    spec("thermostat", "on", 1.5, SWITCH_ON + """
        i switch {np} on
        i fire up {np}
        i put the heating on {loc}
        t {tnp} on
    """, **HEAT_ONOFF),
    spec("thermostat", "off", 1.5, SWITCH_OFF + """
        i shut off {np}
        i turn the heat off {loc}
        t {tnp} off
        t no heating {loc}
    """, **HEAT_ONOFF),
    spec("thermostat", "set", 4, """
        i set {np} to {v}
        i change {np} to {v}
        i put {np} on {v}
        i adjust {np} to {v}
        i make {place} {v}
        i heat {place} to {v}
        i keep {place} at {v}
        t {tnp} to {v}
        t {tnp} {v}
        t i want {place} at {v}
    """, value="degrees", **HEAT_SET),
    spec("thermostat", "up", 2, """
        i turn up {np} by {v}
        i turn {np} up by {v}
        i raise {np} by {v}
        i increase {np} by {v}
        i bump {np} up by {v}
        i make {place} {v} warmer
        t {tnp} up {v}
        i turn up {np}
        i turn {np} up
        i make {place} warmer
        i warm up {place}
        i heat up {place}
        i make it warmer {loc}
        t {tnp} up
        t it's cold {loc}
        t it's freezing {loc}
    """, value="degree_delta", optional=True, **HEAT_SET),
    spec("thermostat", "down", 2, """
        i turn down {np} by {v}
        i turn {np} down by {v}
        i lower {np} by {v}
        i decrease {np} by {v}
        i drop {np} by {v}
        i make {place} {v} cooler
        t {tnp} down {v}
        i turn down {np}
        i turn {np} down
        i make {place} cooler
        i cool down {place}
        i make it cooler {loc}
        t {tnp} down
        t it's too hot {loc}
        t it's boiling {loc}
    """, value="degree_delta", optional=True, **HEAT_SET),

    # --- fans -------------------------------------------------------------------------------
    spec("fan", "on", 1.5, SWITCH_ON + """
        i start {np}
        t {tnp} on
    """, **FAN),
    spec("fan", "off", 1.5, SWITCH_OFF + """
        i stop {np}
        t {tnp} off
    """, **FAN),
    spec("fan", "set", 1.5, """
        i set {np} to {v}
        i put {np} on {v}
        i turn {np} to {v}
        i change {np} to {v}
        t {tnp} {v}
        t {tnp} to {v}
    """, value="fan_level", **FAN),

    # --- blinds and curtains ----------------------------------------------------------------
    spec("blinds", "open", 2.5, """
        i open {np}
        i open up {np}
        i raise {np}
        i pull up {np}
        i draw back {np}
        i let some light in {loc}
        t {tnp} open
        t {tnp} up
    """, **BLINDS),
    spec("blinds", "close", 2.5, """
        i close {np}
        i shut {np}
        i lower {np}
        i pull down {np}
        i draw {np}
        t {tnp} down
        t {tnp} closed
        t {tnp} shut
    """, **BLINDS),
    spec("blinds", "set", 1.5, """
        i set {np} to {v}
        i open {np} to {v}
        i move {np} to {v}
        i put {np} at {v}
        t {tnp} to {v}
        t {tnp} {v}
    """, value="percent", **BLINDS),

    # --- tv ---------------------------------------------------------------------------------
    spec("tv", "on", 1.5, SWITCH_ON + """
        i switch {np} on
        i power on {np}
        t {tnp} on
    """, **TV),
    spec("tv", "off", 1.5, SWITCH_OFF + """
        i shut off {np}
        i power off {np}
        t {tnp} off
    """, **TV),
    spec("tv", "channel", 1.5, """
        i put {np} on {v}
        i switch {np} to {v}
        i change {np} to {v}
        i turn {np} to {v}
        t {tnp} {v}
        t {tnp} to {v}
    """, value="channel", **TV),

    # --- music and speakers -----------------------------------------------------------------
    spec("media", "play", 2, """
        i play music {loc}
        i play some music {loc}
        i put on some music {loc}
        i put some music on {loc}
        i start the music {loc}
        i resume {np}
        i unpause {np}
        t music {loc}
        t some music {loc}
    """, **MEDIA),
    spec("media", "pause", 1.5, """
        i pause {np}
        i pause the music {loc}
        i hold the music {loc}
        t {tnp} pause
        t pause music {loc}
    """, **MEDIA),
    spec("media", "stop", 1.5, """
        i stop {np}
        i stop the music {loc}
        i turn off the music {loc}
        i kill the music {loc}
        i silence {np}
        t {tnp} off
        t stop music {loc}
    """, **MEDIA),
    spec("media", "volume", 2, """
        i set the volume {loc} to {v}
        i set the volume on {np} to {v}
        i change the volume {loc} to {v}
        i turn {np} to {v}
        i put the volume {loc} at {v}
        t volume {v} {loc}
        t volume to {v} {loc}
        t {tnp} volume {v}
    """, value="volume", **MEDIA),
    spec("media", "louder", 1.5, """
        i turn up {np} by {v}
        i turn the volume up {loc} by {v}
        i raise the volume {loc} by {v}
        i increase the volume {loc} by {v}
        t volume up {v} {loc}
        i turn up {np}
        i turn {np} up
        i make {np} louder
        i turn it up {loc}
        t louder {loc}
        t volume up {loc}
        t i can't hear the music {loc}
    """, value="volume_points", optional=True, **MEDIA),
    spec("media", "quieter", 1.5, """
        i turn down {np} by {v}
        i turn the volume down {loc} by {v}
        i lower the volume {loc} by {v}
        i decrease the volume {loc} by {v}
        t volume down {v} {loc}
        i turn down {np}
        i turn {np} down
        i make {np} quieter
        i turn it down {loc}
        t quieter {loc}
        t volume down {loc}
        t the music is too loud {loc}
    """, value="volume_points", optional=True, **MEDIA),

    # --- locks ------------------------------------------------------------------------------
    spec("lock", "lock", 2.5, """
        i lock {np}
        i lock up {np}
        i secure {np}
        i bolt {np}
        i make sure {np} is locked
        t {tnp} locked
        t lock {tnp}
    """, **LOCKS),
    spec("lock", "unlock", 2, """
        i unlock {np}
        i open the lock on {np}
        i unbolt {np}
        i let me in through {np}
        t {tnp} unlocked
        t unlock {tnp}
    """, **DOOR),

    # --- kitchen appliances -----------------------------------------------------------------
    spec("oven", "on", 1, SWITCH_ON + """
        i start {np}
        t {tnp} on
    """, **OVEN),
    spec("oven", "off", 1, SWITCH_OFF + """
        t {tnp} off
    """, **OVEN),
    spec("oven", "set", 1.5, """
        i preheat {np} to {v}
        i set {np} to {v}
        i heat {np} to {v}
        i turn {np} to {v}
        i put {np} on {v}
        t {tnp} to {v}
        t {tnp} {v}
    """, value="oven", **OVEN),
    spec("coffee", "brew", 1.5, """
        i make me a coffee
        i make some coffee
        i brew some coffee
        i brew a pot of coffee
        i start {np}
        i turn on {np}
        i switch on {np}
        t i need a coffee
        t coffee time
        t a cup of coffee
    """, **COFFEE),
    spec("coffee", "off", 0.5, """
        i turn off {np}
        i switch off {np}
        i turn {np} off
        t {tnp} off
    """, **COFFEE),

    # --- robot vacuum and garden ------------------------------------------------------------
    spec("vacuum", "start", 1.5, """
        i vacuum {place}
        i clean {place}
        i hoover {place}
        i start the vacuum {loc}
        i run the robot vacuum {loc}
        i send the vacuum to {place}
        i start cleaning {place}
        t {place} needs vacuuming
    """, **VACUUM),
    spec("vacuum", "dock", 0.7, """
        i send the vacuum back to its dock
        i dock the vacuum
        i stop vacuuming
        i send the robot vacuum home
        i stop the robot vacuum
        i return the vacuum to its base
        t vacuum go home
        t vacuum back to base
    """),
    spec("sprinkler", "on", 0.8, """
        i turn on {np}
        i switch on {np}
        i start {np}
        i water {place}
        i run {np}
        t {tnp} on
    """, **SPRINKLER),
    spec("sprinkler", "off", 0.6, """
        i turn off {np}
        i switch off {np}
        i stop {np}
        i stop watering {place}
        t {tnp} off
    """, **SPRINKLER),

    # --- timers and alarms ------------------------------------------------------------------
    spec("timer", "start", 4, """
        i set a timer for {v}
        i start a timer for {v}
        i set the timer for {v}
        i put a timer on for {v}
        i set {va} timer
        i start {va} timer
        i remind me in {v}
        i count down {v}
        i give me {va} timer
        t timer for {v}
        t timer {v}
        t {va} timer
    """, value="seconds"),
    spec("timer", "cancel", 1, """
        i cancel the timer
        i cancel my timer
        i stop the timer
        i turn off the timer
        i delete the timer
        i kill the timer
        i clear the timer
        t never mind the timer
        t cancel timer
        t timer off
    """),
    spec("alarm", "set", 3, """
        i set an alarm for {v}
        i set my alarm for {v}
        i wake me up at {v}
        i wake me at {v}
        i set the alarm to {v}
        i put an alarm on for {v}
        t alarm at {v}
        t alarm for {v}
        t i need to get up at {v}
        t i want to wake up at {v}
    """, value="clock"),
    spec("alarm", "cancel", 1, """
        i cancel my alarm
        i cancel the alarm
        i turn off my alarm
        i delete the alarm
        i switch off the alarm
        i remove my alarm
        t no alarm tomorrow
        t alarm off
        t i don't need an alarm
    """),
)

SPECS: tuple[Spec, ...] = _COMMANDS + questions.SPECS
"""Every command of the recipe, in drawing order."""

GRAMMAR = Grammar(SPECS, rooms=ROOMS, doors=DOORS, everywhere=EVERYWHERE,
                  whole_house=WHOLE_HOUSE)
"""The smart-home recipe's grammar."""
