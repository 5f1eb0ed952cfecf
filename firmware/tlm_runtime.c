/* tlm_runtime.c: the step loop around a generated plan: window, step, text, generation. */
#include "tlm_runtime.h"

/* ----------------------------------------------------------------------------------------- */
/* Binding, window, step                                                                     */

TlmStatus tlm_init(Tlm *tlm, const TlmModel *model, void *arena, size_t arena_len) {
    if (tlm == NULL || model == NULL || arena == NULL || model->forward == NULL) {
        return TLM_ERR_ARG;
    }
    if (model->vocab < 1 || model->context < 1 ||
        model->window_offset + 4u * (uint32_t)model->context > model->arena_bytes ||
        model->logits_offset + (uint32_t)model->vocab > model->arena_bytes) {
        return TLM_ERR_MODEL;
    }
    if (arena_len < model->arena_bytes || ((uintptr_t)arena & 3u) != 0u) {
        return TLM_ERR_ARENA;
    }
    tlm->model = model;
    tlm->arena = (uint8_t *)arena;
    tlm->window = (int32_t *)(void *)(tlm->arena + model->window_offset);
    tlm->logits = (const int8_t *)(tlm->arena + model->logits_offset);
    return tlm_reset(tlm);
}

TlmStatus tlm_reset(Tlm *tlm) {
    int32_t i;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < tlm->model->context; i++) {
        tlm->window[i] = TLM_PAD;
    }
    return TLM_OK;
}

TlmStatus tlm_push(Tlm *tlm, int32_t token) {
    int32_t i;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    if (token < 0 || token >= tlm->model->vocab) {
        return TLM_ERR_TOKEN;
    }
    for (i = 1; i < tlm->model->context; i++) {
        tlm->window[i - 1] = tlm->window[i];
    }
    tlm->window[tlm->model->context - 1] = token;
    return TLM_OK;
}

TlmStatus tlm_step(Tlm *tlm, const int8_t **logits) {
    TlmStatus status;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    status = tlm->model->forward(tlm->arena);
    if (logits != NULL) {
        *logits = status == TLM_OK ? tlm->logits : NULL;
    }
    return status;
}

/* ----------------------------------------------------------------------------------------- */
/* Text                                                                                      */

/* One well-formed UTF-8 character at s[0..len): its code point and length, or 0 if malformed
 * (overlong forms, surrogates and values above U+10FFFF are malformed, as in Python). */
static size_t utf8_decode(const uint8_t *s, size_t len, uint32_t *code) {
    size_t n;
    size_t i;
    uint32_t c;
    uint32_t min;
    if (s[0] < 0x80u) {
        *code = s[0];
        return 1;
    }
    if (s[0] >= 0xC2u && s[0] <= 0xDFu) {
        n = 2; c = s[0] & 0x1Fu; min = 0x80u;
    } else if (s[0] >= 0xE0u && s[0] <= 0xEFu) {
        n = 3; c = s[0] & 0x0Fu; min = 0x800u;
    } else if (s[0] >= 0xF0u && s[0] <= 0xF4u) {
        n = 4; c = s[0] & 0x07u; min = 0x10000u;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFFu || (c >= 0xD800u && c <= 0xDFFFu)) {
        return 0;
    }
    *code = c;
    return n;
}

/* Binary search of the (ascending) code point table. */
static int32_t char_id(const TlmModel *model, uint32_t code) {
    int32_t lo = 0;
    int32_t hi = model->n_chars - 1;
    while (lo <= hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (model->char_codes[mid] == code) {
            return model->char_ids[mid];
        }
        if (model->char_codes[mid] < code) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return TLM_UNK;
}

int32_t tlm_encode_next(const TlmModel *model, const uint8_t *text, size_t len, size_t *used) {
    uint32_t code = 0;
    size_t n;
    if (model->tokenizer == TLM_TOKENIZER_BYTE) {
        *used = 1;
        return (int32_t)text[0] + 1;
    }
    n = utf8_decode(text, len, &code);
    if (n == 0) {
        *used = 1;
        return TLM_UNK;
    }
    *used = n;
    return char_id(model, code);
}

TlmStatus tlm_push_text(Tlm *tlm, const char *text, size_t len, int32_t *n_pushed) {
    const uint8_t *s = (const uint8_t *)text;
    size_t at = 0;
    int32_t count = 0;
    if (tlm == NULL || tlm->model == NULL || (text == NULL && len > 0)) {
        return TLM_ERR_ARG;
    }
    while (at < len) {
        size_t used = 1;
        const int32_t id = tlm_encode_next(tlm->model, s + at, len - at, &used);
        const TlmStatus status = tlm_push(tlm, id);
        if (status != TLM_OK) {
            return status;
        }
        at += used;
        count++;
    }
    if (n_pushed != NULL) {
        *n_pushed = count;
    }
    return TLM_OK;
}

const uint8_t *tlm_token_text(const TlmModel *model, int32_t id, size_t *len) {
    if (model == NULL || id < 0 || id >= model->vocab) {
        *len = 0;
        return model != NULL ? model->token_bytes : NULL;
    }
    *len = model->token_start[id + 1] - model->token_start[id];
    return model->token_bytes + model->token_start[id];
}

/* ----------------------------------------------------------------------------------------- */
/* Generation                                                                                */

TlmStatus tlm_generate(Tlm *tlm, const TlmGenerate *opts, TlmTokenFn on_token, void *user) {
    TlmSampler sampler;
    TlmRng rng;
    int32_t i;
    if (tlm == NULL || tlm->model == NULL || opts == NULL || opts->n_tokens < 0 || opts->top_k < 0) {
        return TLM_ERR_ARG;
    }
    sampler.temp_milli = opts->temp_milli;
    sampler.top_k = opts->top_k;
    sampler.logit_k = tlm->model->logit_k;
    sampler.pow2_frac_q16 = tlm->model->pow2_frac_q16;
    tlm_rng_seed(&rng, opts->seed);
    for (i = 0; i < opts->n_tokens; i++) {
        const int8_t *logits = NULL;
        int32_t id;
        TlmStatus status = tlm_step(tlm, &logits);
        if (status != TLM_OK) {
            return status;
        }
        id = tlm_sample_s8(&sampler, logits, tlm->model->vocab, &rng);
        status = tlm_push(tlm, id);
        if (status != TLM_OK) {
            return status;
        }
        if (on_token != NULL && on_token(id, user) != 0) {
            break;
        }
    }
    return TLM_OK;
}
