/* tlm_command.h: a voice command's canonical text -> an intent id and slot values.
 *
 * A commands model (docs/grammar.md) writes its answer as text, for instance
 * "water.start bed_a 15". tlm_grammar_parse() turns such a text into numbers firmware can
 * switch on, using tables generated from the project's grammar (tlm_commands.c, whose
 * tlm_command_parse() calls it with them):
 *
 *     TlmCommand cmd;
 *     if (tlm_command_parse(text, len, &cmd) == TLM_COMMAND_OK) {
 *         switch (cmd.intent) { case TLM_INTENT_WATER_START: ... }
 *     }
 *
 * The text must be exactly what the grammar's `output` patterns produce: tokens separated by
 * one space each, nothing before the first or after the last. An output pattern is a list of
 * items, each a literal token ("water.start") or a slot of a slot type; optional slots (the
 * grammar's `{name?}`) come last and may each be left out. Intents are tried in grammar order
 * and the first that matches the whole text wins (the grammar allows no two intents that could
 * write the same text). A slot's token is:
 * - list:     one of the type's canonical values, exactly ("bed_a"): its index and its text;
 * - integer, percent, duration (seconds): a decimal number without leading zeros ("0", "15"),
 *   within the type's range: the number;
 * - time:     four digits HHMM, 00..23 hours and 00..59 minutes ("0730"): HH * 100 + MM.
 *
 * Nothing allocates and nothing is global; the only memory is the caller's TlmCommand and
 * under 300 bytes of stack (Cortex-M4, -Os). The tables are const (flash).
 */
#ifndef TLM_COMMAND_H
#define TLM_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TLM_COMMAND_SLOTS 8         /* output slots one intent may have (the generator checks) */
#define TLM_COMMAND_ITEMS 16        /* literal tokens + slots of one output pattern */

typedef enum {
    TLM_COMMAND_OK = 0,
    TLM_COMMAND_ERR_ARG = 1,        /* a NULL pointer, or tables that do not hold together */
    TLM_COMMAND_ERR_SYNTAX = 2,     /* empty, a space at either end or two spaces in a row */
    TLM_COMMAND_ERR_INTENT = 3,     /* the words of no intent (a literal token differs) */
    TLM_COMMAND_ERR_VALUE = 4,      /* a slot's token is no value of its type */
    TLM_COMMAND_ERR_RANGE = 5,      /* a number outside its slot type's range */
    TLM_COMMAND_ERR_MISSING = 6,    /* the text ends before a required token */
    TLM_COMMAND_ERR_EXTRA = 7       /* tokens after a complete command */
} TlmCommandStatus;

/* A short English name of a status ("unknown intent"), for logs. */
const char *tlm_command_status_text(TlmCommandStatus status);

/* ----------------------------------------------------------------------------------------- */
/* The tables: constant, generated from the grammar (tlm_commands.c)                         */

typedef enum {
    TLM_SLOT_KIND_LIST = 0,         /* canonical values */
    TLM_SLOT_KIND_INTEGER = 1,      /* a whole number in min..max */
    TLM_SLOT_KIND_PERCENT = 2,      /* a whole number in min..max (within 0..100) */
    TLM_SLOT_KIND_DURATION = 3,     /* seconds in min..max */
    TLM_SLOT_KIND_TIME = 4          /* HHMM, 0000..2359 */
} TlmSlotKind;

typedef struct {
    const char *name;               /* the grammar's name of the type ("zone") */
    int32_t kind;                   /* a TlmSlotKind */
    int32_t min;                    /* numeric kinds: the range, inclusive */
    int32_t max;
    int32_t n_values;               /* list: how many canonical values; else 0 */
    const char *const *values;      /* list: (n_values) canonical values ("bed_a"); else NULL */
} TlmSlotType;

/* One item of an output pattern: a literal token, or a slot of types[type]. */
typedef struct {
    const char *literal;            /* the token ("water.start"); NULL for a slot */
    int16_t type;                   /* a slot: index into TlmGrammar.types; else -1 */
    int16_t optional;               /* a slot: 1 if the text may leave it out (`{name?}`) */
} TlmPatternItem;

typedef struct {
    const char *name;               /* the intent's name ("water.start") */
    int32_t n_items;                /* 1..TLM_COMMAND_ITEMS */
    const TlmPatternItem *items;    /* (n_items): required items first, optional slots last */
    int32_t n_slots;                /* the slots among the items, 0..TLM_COMMAND_SLOTS */
} TlmIntent;

typedef struct {
    const char *name;               /* the grammar's name ("greenhouse") */
    int32_t n_intents;
    const TlmIntent *intents;       /* (n_intents) in grammar order: intent ids are indices */
    int32_t n_types;
    const TlmSlotType *types;       /* (n_types) */
} TlmGrammar;

/* ----------------------------------------------------------------------------------------- */
/* A parse                                                                                   */

typedef struct {
    int32_t present;                /* 0: an optional slot the text leaves out (value 0) */
    int32_t value;                  /* list: the value's index (a TLM_<TYPE>_<VALUE>);
                                       numbers: the number; time: HH * 100 + MM */
    const char *text;               /* list: the canonical value (NUL-terminated, the table's
                                       own string); other kinds and absent slots: NULL */
} TlmSlotValue;

typedef struct {
    int32_t intent;                 /* the intent's index (a TLM_INTENT_...); -1 if refused */
    const char *name;               /* the intent's name; NULL if refused */
    int32_t n_slots;                /* the intent's output slots, present or not */
    TlmSlotValue slots[TLM_COMMAND_SLOTS];  /* in the order the output pattern names them */
    size_t error_at;                /* refused: the byte offset of the token at fault (the
                                       text's length when a token is missing); else 0 */
} TlmCommand;

/* Parse text[0..len) with a grammar's tables into *out. TLM_COMMAND_OK, or the status of the
 * failure that got furthest into the text over all intents (the first such one, in grammar
 * order), with out->intent -1. */
TlmCommandStatus tlm_grammar_parse(const TlmGrammar *grammar, const char *text, size_t len, TlmCommand *out);

#ifdef __cplusplus
}
#endif

#endif /* TLM_COMMAND_H */
