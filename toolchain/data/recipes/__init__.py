"""Built-in training corpora ("recipes") for the tiny character-level language model.

The only recipe so far is ``commands``: a seeded grammar that writes smart-home voice commands,
each followed on the same line by the canonical command it means::

    turn the kitchen lights off please => light.off kitchen
    um, could you set the bedroom heating to twenty one degrees => thermostat.set bedroom 21
    set a timer for an hour and a half => timer.start 5400

Every example starts life as a structured `Intent` (drawn by `sample_intent`) and is turned into
text by `render`, so a corpus can later be filtered by intent (for example to hold out some
(room, action) pairs and test compositional generalisation) without touching the phrasing code.
`generate_commands` ties the two together and is fully deterministic for a given seed: it only
uses its own ``random.Random(seed)`` and only ``Random.random()`` draws, whose sequence Python
guarantees across platforms.

The package reads as the path from data to a line:

- `lines`: the line format and `Intent` (what the other stages read);
- `numbers`, `values`: numbers in words; drawing a command's value and saying it;
- `templates`: the machinery a recipe is written in (`Spec`, `Grammar`, template blocks);
- `house`, `smarthome`, `questions`: the smart-home recipe itself, pure data;
- `politeness`, `utterances`: filling a template and framing it, typos;
- `generate`: `generate_commands`, `RECIPES` and the compositional hold-out.

Line format
-----------
``<utterance> => <command>`` with `SEPARATOR` = ``" => "``. No trailing newline, ASCII only:
the utterance uses lowercase letters, digits, space and ``' . , ?``; the command uses lowercase
letters, digits, space, ``.`` and ``_``. Utterances are 8 to 80 characters long. About 3% of
utterances carry one character-level typo (a swapped, dropped or doubled letter in one word);
the command never does.

Canonical command grammar
-------------------------
::

    command := domain "." verb [" " target] [" " value]
    target  := room | door | "all"
    room    := kitchen | living_room | bedroom | hallway | bathroom | garage | office | garden
             | dining_room | kids_room | guest_room | basement | attic | laundry_room | nursery
    door    := front_door | back_door | garage_door | side_door | patio_door
    value   := decimal digits, no sign, no leading zeros (alarm times: exactly 4 digits, HHMM)

``all`` means "everywhere / the whole house". Numbers said as words ("twenty one") or digits
("21") both become digits in the command. The full set of commands (``[x]`` = optional):

==================  ======================  ===================================================
command             target                  value
==================  ======================  ===================================================
light.on / .off     room or all             -
light.set           room or all             brightness percent 1-100
light.dim           room or all             [percent points 5-50]
light.brighten      room or all             [percent points 5-50]
thermostat.on/.off  room                    -
thermostat.set      room                    degrees 16-28
thermostat.up/.down room                    [degrees 1-5]
fan.on / fan.off    room                    -
fan.set             room                    speed level 1-5
blinds.open/.close  room or all             -
blinds.set          room or all             open percent 1-100
tv.on / tv.off      room                    -
tv.channel          room                    channel 1-99
media.play          room or all             -
media.pause / .stop room or all             -
media.volume        room or all             volume percent 0-100
media.louder        room or all             [percent points 5-30]
media.quieter       room or all             [percent points 5-30]
lock.lock           door or all             -
lock.unlock         door                    -
oven.on / oven.off  kitchen                 -
oven.set            kitchen                 degrees 150-250
coffee.brew / .off  kitchen                 -
vacuum.start        room or all             -
vacuum.dock         -                       -
sprinkler.on / .off garden                  -
timer.start         -                       duration in seconds (e.g. 300, 5400)
timer.cancel        -                       -
alarm.set           -                       time of day HHMM, 24-hour (e.g. 0730, 1915)
alarm.cancel        -                       -
query.temperature   room                    -
query.humidity      room                    -
query.light         room                    -
query.lock          door                    -
query.timer         -                       -
query.time          -                       -
==================  ======================  ===================================================

Examples: ``light.off kitchen``, ``light.dim living_room 30``, ``thermostat.set bedroom 21``,
``timer.start 300``, ``blinds.open office``, ``lock.lock front_door``,
``media.volume living_room 40``, ``alarm.set 0730``, ``query.temperature bedroom``.
"""

from __future__ import annotations

from .generate import (COMMANDS, RECIPES, compositional_holdout, generate_commands, render,
                       sample_intent, target_pairs)
from .house import DOORS, ROOMS
from .lines import (COMMAND_RE, MAX_UTTERANCE_LEN, MIN_UTTERANCE_LEN, PROMPT_END, SEPARATOR,
                    Intent, canonical, intent_pair, parse_line)
from .numbers import number_to_words, number_word_forms
from .utterances import TYPO_RATE

__all__ = [
    "COMMAND_RE",
    "COMMANDS",
    "DOORS",
    "Intent",
    "MAX_UTTERANCE_LEN",
    "MIN_UTTERANCE_LEN",
    "PROMPT_END",
    "RECIPES",
    "ROOMS",
    "SEPARATOR",
    "TYPO_RATE",
    "canonical",
    "compositional_holdout",
    "generate_commands",
    "intent_pair",
    "number_to_words",
    "number_word_forms",
    "parse_line",
    "render",
    "sample_intent",
    "target_pairs",
]
