/* tlm_command.c: a command text -> intent id and slot values, over a grammar's tables.
 *
 * The parse in three steps, in the order the data flows: split the text into tokens at its
 * single spaces; read one token as a value of a slot type; match the tokens against each
 * intent's output pattern, the required items one by one and then the optional slots, each
 * taken or left out, depth first (taking before leaving out: so among two readings the one
 * that fills the earlier optional slot wins). The host reference is the grammar engine's
 * Grammar.parse_command (toolchain/data/grammar/); tests/test_commands_c.py holds the two
 * equal on every command a grammar can produce.
 */
#include "tlm_command.h"

#include <string.h>

const char *tlm_command_status_text(TlmCommandStatus status) {
    switch (status) {
        case TLM_COMMAND_OK: return "ok";
        case TLM_COMMAND_ERR_ARG: return "bad argument or tables";
        case TLM_COMMAND_ERR_SYNTAX: return "not a command (empty or bad spacing)";
        case TLM_COMMAND_ERR_INTENT: return "unknown intent";
        case TLM_COMMAND_ERR_VALUE: return "bad slot value";
        case TLM_COMMAND_ERR_RANGE: return "slot value out of range";
        case TLM_COMMAND_ERR_MISSING: return "missing slot";
        case TLM_COMMAND_ERR_EXTRA: return "extra tokens";
    }
    return "unknown status";
}

/* ----------------------------------------------------------------------------------------- */
/* Tokens                                                                                    */

typedef struct {
    size_t start;                   /* byte offset in the text */
    size_t len;                     /* >= 1 */
} Token;

#define MAX_TOKENS (TLM_COMMAND_ITEMS + 1)   /* a pattern's items, plus one to point at as extra */

/* Split text[0..len) at its spaces: *n_tokens counts them all, tok[] keeps the first
 * MAX_TOKENS. A text that is empty, starts or ends with a space or has two in a row is
 * TLM_COMMAND_ERR_SYNTAX, *bad the offset of the offending byte. */
static TlmCommandStatus split(const char *text, size_t len, Token *tok, int32_t *n_tokens, size_t *bad) {
    size_t i = 0;
    int32_t n = 0;
    if (len == 0u) {
        *bad = 0u;
        return TLM_COMMAND_ERR_SYNTAX;
    }
    for (;;) {
        size_t start = i;
        while (i < len && text[i] != ' ') {
            i++;
        }
        if (i == start) {           /* an empty token: a space at the start or after a space */
            *bad = start;
            return TLM_COMMAND_ERR_SYNTAX;
        }
        if (n < MAX_TOKENS) {
            tok[n].start = start;
            tok[n].len = i - start;
        }
        n++;
        if (i == len) {
            break;
        }
        i++;                        /* the space */
        if (i == len) {             /* a space at the end */
            *bad = i - 1u;
            return TLM_COMMAND_ERR_SYNTAX;
        }
    }
    *n_tokens = n;
    return TLM_COMMAND_OK;
}

/* 1 if s[0..n) is the NUL-terminated `word`. Stops at word's end: s may hold any bytes. */
static int token_is(const char *word, const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (word[i] == '\0' || word[i] != s[i]) {
            return 0;
        }
    }
    return word[n] == '\0';
}

/* ----------------------------------------------------------------------------------------- */
/* Values                                                                                    */

/* A decimal number as the grammar writes one: digits without a leading zero ("0" alone is
 * fine). Too large for int32: TLM_COMMAND_ERR_RANGE (no slot type reaches that far). */
static TlmCommandStatus number(const char *s, size_t n, int32_t *value) {
    size_t i;
    int32_t v = 0;
    TlmCommandStatus st = TLM_COMMAND_OK;
    if (s[0] == '0' && n > 1u) {
        return TLM_COMMAND_ERR_VALUE;
    }
    for (i = 0; i < n; i++) {
        int32_t d = (int32_t)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9') {
            return TLM_COMMAND_ERR_VALUE;   /* "12x" is a bad value, however long */
        }
        if (v > (INT32_MAX - d) / 10) {
            st = TLM_COMMAND_ERR_RANGE;
        } else {
            v = v * 10 + d;
        }
    }
    *value = v;
    return st;
}

/* Read s[0..n) as a value of slot type t into *out (present, value, text). */
static TlmCommandStatus slot_value(const TlmSlotType *t, const char *s, size_t n, TlmSlotValue *out) {
    int32_t v = 0;
    int32_t i;
    TlmCommandStatus st;
    out->text = NULL;
    switch (t->kind) {
        case TLM_SLOT_KIND_LIST:
            if (t->values == NULL) {
                return TLM_COMMAND_ERR_ARG;
            }
            for (i = 0; i < t->n_values; i++) {
                if (token_is(t->values[i], s, n)) {
                    out->present = 1;
                    out->value = i;
                    out->text = t->values[i];
                    return TLM_COMMAND_OK;
                }
            }
            return TLM_COMMAND_ERR_VALUE;
        case TLM_SLOT_KIND_TIME:    /* HHMM: exactly four digits */
            if (n != 4u) {
                return TLM_COMMAND_ERR_VALUE;
            }
            for (i = 0; i < 4; i++) {
                if (s[i] < '0' || s[i] > '9') {
                    return TLM_COMMAND_ERR_VALUE;
                }
                v = v * 10 + (int32_t)(s[i] - '0');
            }
            if (v / 100 > 23 || v % 100 > 59) {
                return TLM_COMMAND_ERR_RANGE;
            }
            break;
        case TLM_SLOT_KIND_INTEGER:
        case TLM_SLOT_KIND_PERCENT:
        case TLM_SLOT_KIND_DURATION:
            st = number(s, n, &v);
            if (st != TLM_COMMAND_OK) {
                return st;
            }
            if (v < t->min || v > t->max) {
                return TLM_COMMAND_ERR_RANGE;
            }
            break;
        default:
            return TLM_COMMAND_ERR_ARG;
    }
    out->present = 1;
    out->value = v;
    return TLM_COMMAND_OK;
}

static void slot_absent(TlmSlotValue *v) {
    v->present = 0;
    v->value = 0;
    v->text = NULL;
}

/* ----------------------------------------------------------------------------------------- */
/* Matching                                                                                  */

typedef struct {
    const TlmGrammar *grammar;
    const char *text;
    const Token *tok;               /* (min(n_tokens, MAX_TOKENS)) */
    int32_t n_tokens;
    int32_t best_at;                /* the token index of the furthest failure so far, or -1 */
    TlmCommandStatus best;          /* its status (the first one seen at that index) */
} Match;

static void fail(Match *m, int32_t at, TlmCommandStatus status) {
    if (at > m->best_at) {
        m->best_at = at;
        m->best = status;
    }
}

/* 1 if the intent's items are a pattern this file can run: 1..TLM_COMMAND_ITEMS items,
 * n_slots slots among them (at most TLM_COMMAND_SLOTS), every slot type in range, and after
 * the first optional item only optional slots. */
static int pattern_ok(const TlmGrammar *g, const TlmIntent *in) {
    int32_t j;
    int32_t slots = 0;
    int optional = 0;
    if (in->items == NULL || in->n_items < 1 || in->n_items > TLM_COMMAND_ITEMS || in->n_slots < 0
        || in->n_slots > TLM_COMMAND_SLOTS) {
        return 0;
    }
    for (j = 0; j < in->n_items; j++) {
        const TlmPatternItem *it = &in->items[j];
        if (it->literal == NULL) {
            if (it->type < 0 || it->type >= g->n_types) {
                return 0;
            }
            slots++;
            optional |= it->optional != 0;
        } else if (optional) {
            return 0;
        }
        if (optional && !it->optional) {
            return 0;
        }
    }
    return slots == in->n_slots;
}

/* 1 if the tokens are intent `in`, its slot values in out->slots; 0 (and the failure noted
 * in m) if not. The pattern is pattern_ok. */
static int match_intent(Match *m, const TlmIntent *in, TlmCommand *out) {
    const TlmSlotType *types = m->grammar->types;
    int8_t taken[TLM_COMMAND_ITEMS];    /* per optional slot on the current path: 1 taken, 0 left out */
    int32_t pos = 0;                    /* the next token */
    int32_t slot = 0;                   /* the next slot */
    int32_t j = 0;
    int32_t d = 0;
    int32_t k;
    TlmCommandStatus st;
    for (; j < in->n_items && !(in->items[j].literal == NULL && in->items[j].optional); j++) {
        const TlmPatternItem *it = &in->items[j];
        const Token *t;
        if (pos >= m->n_tokens) {
            fail(m, pos, TLM_COMMAND_ERR_MISSING);
            return 0;
        }
        t = &m->tok[pos];
        if (it->literal != NULL) {
            st = token_is(it->literal, m->text + t->start, t->len) ? TLM_COMMAND_OK : TLM_COMMAND_ERR_INTENT;
        } else {
            st = slot_value(&types[it->type], m->text + t->start, t->len, &out->slots[slot++]);
        }
        if (st != TLM_COMMAND_OK) {
            fail(m, pos, st);
            return 0;
        }
        pos++;
    }
    /* The optional slots items[j..j+k): depth d, each taken if its token reads, else left out;
     * a path that does not end at the last token backs up to the deepest slot taken. */
    k = in->n_items - j;
    for (;;) {
        if (d < k) {
            const TlmPatternItem *it = &in->items[j + d];
            TlmSlotValue *v = &out->slots[slot + d];
            if (pos < m->n_tokens) {
                const Token *t = &m->tok[pos];
                st = slot_value(&types[it->type], m->text + t->start, t->len, v);
                if (st == TLM_COMMAND_OK) {
                    taken[d++] = 1;
                    pos++;
                    continue;
                }
                fail(m, pos, st);
            }
            slot_absent(v);
            taken[d++] = 0;
            continue;
        }
        if (pos == m->n_tokens) {
            return 1;
        }
        fail(m, pos, TLM_COMMAND_ERR_EXTRA);
        do {
            if (d == 0) {
                return 0;
            }
            d--;
        } while (!taken[d]);
        pos--;
        slot_absent(&out->slots[slot + d]);
        taken[d++] = 0;
    }
}

TlmCommandStatus tlm_grammar_parse(const TlmGrammar *grammar, const char *text, size_t len, TlmCommand *out) {
    Token tok[MAX_TOKENS];
    Match m;
    int32_t i;
    int32_t s;
    size_t bad = 0;
    TlmCommandStatus st;
    if (out == NULL) {
        return TLM_COMMAND_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    out->intent = -1;
    if (grammar == NULL || text == NULL || (grammar->n_intents > 0 && grammar->intents == NULL)
        || (grammar->n_types > 0 && grammar->types == NULL)) {
        return TLM_COMMAND_ERR_ARG;
    }
    m.grammar = grammar;
    m.text = text;
    m.tok = tok;
    m.n_tokens = 0;
    m.best_at = -1;
    m.best = TLM_COMMAND_ERR_INTENT;
    st = split(text, len, tok, &m.n_tokens, &bad);
    if (st != TLM_COMMAND_OK) {
        out->error_at = bad;
        return st;
    }
    for (i = 0; i < grammar->n_intents; i++) {
        const TlmIntent *in = &grammar->intents[i];
        if (!pattern_ok(grammar, in)) {
            return TLM_COMMAND_ERR_ARG;
        }
        if (match_intent(&m, in, out)) {
            out->intent = i;
            out->name = in->name;
            out->n_slots = in->n_slots;
            for (s = in->n_slots; s < TLM_COMMAND_SLOTS; s++) {
                slot_absent(&out->slots[s]);    /* left over from intents tried before */
            }
            return TLM_COMMAND_OK;
        }
    }
    memset(out, 0, sizeof *out);
    out->intent = -1;
    out->error_at = m.best_at < 0 ? 0u : m.best_at < m.n_tokens ? tok[m.best_at].start : len;
    return m.best;
}
