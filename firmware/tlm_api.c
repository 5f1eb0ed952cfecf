/* tlm_api.c: the C API of tlm_api.h over the runtime (tlm_runtime.h) and, in a commands
 * project, the grammar's parse (tlm_commands.h). Every call starts from tlm_reset(), so the
 * same arguments give the same answer whatever ran before.
 */
#include "tlm_api.h"

#include <string.h>

#include "model_data.h"

#if TLM_HAS_GRAMMAR
#include "tlm_commands.h"
#endif

TlmStatus tlm_api_init(Tlm *tlm, void *arena, size_t arena_len) {
    return tlm_init(tlm, &tlm_model, arena, arena_len);
}

/* A fresh context holding text[0..len), then suffix[0..suffix_len). */
static TlmStatus reset_and_push(Tlm *tlm, const char *text, size_t len, const char *suffix, size_t suffix_len) {
    TlmStatus status = tlm_reset(tlm);
    if (status == TLM_OK) {
        status = tlm_push_text(tlm, text, len, NULL);
    }
    if (status == TLM_OK && suffix_len > 0) {
        status = tlm_push_text(tlm, suffix, suffix_len, NULL);
    }
    return status;
}

/* ----------------------------------------------------------------------------------------- */
/* Completion                                                                                */

/* Between tlm_generate's ids and the caller's texts. */
typedef struct {
    const TlmModel *model;
    TlmTextFn on_text;
    void *user;
    int32_t stop_at_newline;
    int32_t n;                      /* tokens generated so far */
} TlmRelay;

static int relay_token(int32_t id, void *user) {
    TlmRelay *r = (TlmRelay *)user;
    size_t len = 0;
    const char *text = (const char *)tlm_token_text(r->model, id, &len);
    r->n++;
    if (r->stop_at_newline && len > 0) {
        const char *lf = (const char *)memchr(text, '\n', len);
        if (lf != NULL) {
            if (lf > text && r->on_text != NULL) {
                r->on_text(id, text, (size_t)(lf - text), r->user);
            }
            return 1;
        }
    }
    return r->on_text != NULL ? r->on_text(id, text, len, r->user) : 0;
}

TlmStatus tlm_api_complete(Tlm *tlm, const char *prompt, size_t len, const TlmCompletion *opts, TlmTextFn on_text,
                           void *user, int32_t *n_tokens) {
    TlmGenerate g;
    TlmRelay relay;
    TlmStatus status;
    if (n_tokens != NULL) {
        *n_tokens = 0;
    }
    if (tlm == NULL || tlm->model == NULL || opts == NULL || (prompt == NULL && len > 0) || opts->max_tokens < 0) {
        return TLM_ERR_ARG;
    }
    status = reset_and_push(tlm, prompt, len, "", 0);
    if (status != TLM_OK) {
        return status;
    }
    g.n_tokens = opts->max_tokens;
    g.seed = opts->seed;
    g.temp_milli = opts->temp_milli;
    g.top_k = opts->top_k;
    relay.model = tlm->model;
    relay.on_text = on_text;
    relay.user = user;
    relay.stop_at_newline = opts->stop_at_newline;
    relay.n = 0;
    status = tlm_generate(tlm, &g, relay_token, &relay);
    if (n_tokens != NULL) {
        *n_tokens = relay.n;
    }
    return status;
}

/* ----------------------------------------------------------------------------------------- */
/* Voice commands                                                                            */

/* The prompt ends with the separator without its last space (toolchain/data/recipes/lines.py
 * PROMPT_END): a word or BPE tokenizer makes that space part of the command's first token. */
static const char command_prompt_end[] = " =>";

typedef struct {
    const TlmModel *model;
    TlmCommandText *out;
    int started;                    /* 1 once a token with text has been seen */
} TlmCommandDecode;

/* Appends the token's text up to the first LF; stops there, or when the text is full. */
static int collect_command(int32_t id, void *user) {
    TlmCommandDecode *d = (TlmCommandDecode *)user;
    TlmCommandText *out = d->out;
    size_t len = 0;
    const char *text = (const char *)tlm_token_text(d->model, id, &len);
    const char *lf = len > 0 ? (const char *)memchr(text, '\n', len) : NULL;
    size_t keep = lf != NULL ? (size_t)(lf - text) : len;
    out->n_tokens++;
    if (!d->started && len > 0) {
        d->started = 1;
        if (text[0] == ' ') {       /* the space after the separator */
            text++;
            keep = keep > 0 ? keep - 1 : 0;
        }
    }
    if (keep > TLM_API_COMMAND_MAX - out->len) {
        memcpy(out->text + out->len, text, TLM_API_COMMAND_MAX - out->len);
        out->len = TLM_API_COMMAND_MAX;
        return 1;                   /* cut: complete stays 0 */
    }
    memcpy(out->text + out->len, text, keep);
    out->len += keep;
    if (lf != NULL) {
        out->complete = 1;
        return 1;
    }
    return 0;
}

TlmStatus tlm_api_command(Tlm *tlm, const char *utterance, size_t len, TlmCommandText *out) {
    TlmGenerate g;
    TlmCommandDecode d;
    TlmStatus status;
    if (out != NULL) {
        out->text[0] = '\0';
        out->len = 0;
        out->n_tokens = 0;
        out->complete = 0;
    }
    if (tlm == NULL || tlm->model == NULL || out == NULL || utterance == NULL || len == 0) {
        return TLM_ERR_ARG;
    }
    status = reset_and_push(tlm, utterance, len, command_prompt_end, sizeof command_prompt_end - 1);
    if (status != TLM_OK) {
        return status;
    }
    g.n_tokens = TLM_API_COMMAND_TOKENS;
    g.seed = 1;
    g.temp_milli = 0;               /* greedy: no random number is drawn */
    g.top_k = 0;
    d.model = tlm->model;
    d.out = out;
    d.started = 0;
    status = tlm_generate(tlm, &g, collect_command, &d);
    out->text[out->len] = '\0';
    return status;
}

/* ----------------------------------------------------------------------------------------- */
/* Parse                                                                                     */

static void clear_command(TlmApiCommand *out) {
    int32_t i;
    out->intent = -1;
    out->name = NULL;
    out->n_slots = 0;
    out->error_at = 0;
    out->words[0] = '\0';
    for (i = 0; i < TLM_COMMAND_SLOTS; i++) {
        out->slots[i].present = 0;
        out->slots[i].value = 0;
        out->slots[i].text = NULL;
    }
}

#if TLM_HAS_GRAMMAR
static TlmCommandStatus parse_grammar(const char *text, size_t len, TlmApiCommand *out) {
    TlmCommand cmd;
    int32_t i;
    const TlmCommandStatus status = tlm_command_parse(text, len, &cmd);
    out->error_at = cmd.error_at;
    if (status != TLM_COMMAND_OK) {
        return status;
    }
    out->intent = cmd.intent;
    out->name = cmd.name;
    out->n_slots = cmd.n_slots;
    for (i = 0; i < cmd.n_slots && i < TLM_COMMAND_SLOTS; i++) {
        out->slots[i] = cmd.slots[i];
    }
    return TLM_COMMAND_OK;
}
#else
/* TLM_COMMAND_OK if text[0..len) is words separated by single spaces (and holds no NUL);
 * else the offset of the first byte at fault. */
static TlmCommandStatus check_spacing(const char *text, size_t len, size_t *error_at) {
    size_t i;
    if (len == 0) {
        return TLM_COMMAND_ERR_SYNTAX;
    }
    for (i = 0; i < len; i++) {
        if (text[i] == '\0' || (text[i] == ' ' && (i == 0 || i + 1 == len || text[i + 1] == ' '))) {
            *error_at = i;
            return TLM_COMMAND_ERR_SYNTAX;
        }
    }
    return TLM_COMMAND_OK;
}

/* A word of 1..9 decimal digits: its value; else 0. */
static int32_t word_value(const char *word) {
    int32_t value = 0;
    size_t n;
    for (n = 0; word[n] != '\0'; n++) {
        if (word[n] < '0' || word[n] > '9' || n == 9) {
            return 0;
        }
        value = value * 10 + (int32_t)(word[n] - '0');
    }
    return value;
}

/* The built-in recipe's commands: domain.verb, then up to TLM_COMMAND_SLOTS words. The words
 * are copied into out->words, each followed by a NUL instead of its space. */
static TlmCommandStatus parse_words(const char *text, size_t len, TlmApiCommand *out) {
    char *word;
    char *end;
    const char *dot;
    TlmCommandStatus status;
    if (len > TLM_API_COMMAND_MAX) {
        return TLM_COMMAND_ERR_ARG;
    }
    status = check_spacing(text, len, &out->error_at);
    if (status != TLM_COMMAND_OK) {
        return status;
    }
    memcpy(out->words, text, len);
    out->words[len] = '\0';
    end = out->words + len;
    for (word = out->words; word < end; word += strlen(word) + 1) {
        char *space = strchr(word, ' ');
        if (space != NULL) {
            *space = '\0';
        }
    }
    dot = strchr(out->words, '.');
    if (dot == NULL || dot == out->words || dot[1] == '\0') {
        out->words[0] = '\0';
        return TLM_COMMAND_ERR_INTENT;
    }
    for (word = out->words + strlen(out->words) + 1; word < end; word += strlen(word) + 1) {
        TlmSlotValue *slot;
        if (out->n_slots == TLM_COMMAND_SLOTS) {
            const size_t at = (size_t)(word - out->words);
            clear_command(out);
            out->error_at = at;
            return TLM_COMMAND_ERR_EXTRA;
        }
        slot = &out->slots[out->n_slots++];
        slot->present = 1;
        slot->text = word;
        slot->value = word_value(word);
    }
    out->name = out->words;
    return TLM_COMMAND_OK;
}
#endif

TlmCommandStatus tlm_api_parse(const char *text, size_t len, TlmApiCommand *out) {
    if (out == NULL) {
        return TLM_COMMAND_ERR_ARG;
    }
    clear_command(out);
    if (text == NULL) {
        return TLM_COMMAND_ERR_ARG;
    }
#if TLM_HAS_GRAMMAR
    return parse_grammar(text, len, out);
#else
    return parse_words(text, len, out);
#endif
}
