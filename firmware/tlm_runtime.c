/* tlm_runtime.c: the step loop around a generated plan: window, step, text, generation. */
#include "tlm_runtime.h"

#include <string.h>

/* ----------------------------------------------------------------------------------------- */
/* Binding, window, step                                                                     */

/* 1 if [offset, offset + len) lies inside an arena of `bytes`. */
static int in_arena(uint32_t offset, uint32_t len, uint32_t bytes) {
    return offset <= bytes && len <= bytes - offset;
}

static TlmStatus check_states(const TlmModel *model) {
    int32_t i;
    if (model->n_states == 0) {
        return TLM_OK;
    }
    if (model->n_states < 0 || model->states == NULL || model->context != 1 || (model->control_offset & 3u) != 0u ||
        !in_arena(model->control_offset, 4u * (1u + (uint32_t)model->n_states), model->arena_bytes)) {
        return TLM_ERR_MODEL;
    }
    for (i = 0; i < model->n_states; i++) {
        const TlmState *s = &model->states[i];
        if (s->size < 1 || s->delay < 1 || s->rescale.n != s->size ||
            !in_arena(s->input_offset, (uint32_t)s->size, model->arena_bytes) ||
            !in_arena(s->output_offset, (uint32_t)s->size, model->arena_bytes) ||
            (s->delay > 1 && (uint32_t)(s->delay - 1) > model->arena_bytes / (uint32_t)s->size) ||
            (s->delay > 1 && !in_arena(s->ring_offset, (uint32_t)(s->delay - 1) * (uint32_t)s->size,
                                       model->arena_bytes))) {
            return TLM_ERR_MODEL;
        }
    }
    return TLM_OK;
}

static TlmStatus check_ring(const TlmModel *model) {
    if (model->embed_table == NULL) {
        return TLM_OK;
    }
    if (model->n_states != 0 || model->embed_row < 1 || (model->ring_offset & 3u) != 0u ||
        (uint32_t)model->embed_row > model->arena_bytes / (2u * (uint32_t)model->context) ||
        !in_arena(model->ring_offset, 4u + 2u * (uint32_t)model->context * (uint32_t)model->embed_row,
                  model->arena_bytes)) {
        return TLM_ERR_MODEL;
    }
    return TLM_OK;
}

TlmStatus tlm_init(Tlm *tlm, const TlmModel *model, void *arena, size_t arena_len) {
    if (tlm == NULL || model == NULL || arena == NULL || model->forward == NULL) {
        return TLM_ERR_ARG;
    }
    if (model->vocab < 1 || model->context < 1 ||
        model->window_offset + 4u * (uint32_t)model->context > model->arena_bytes ||
        model->logits_offset + (uint32_t)model->vocab > model->arena_bytes || check_states(model) != TLM_OK ||
        check_ring(model) != TLM_OK) {
        return TLM_ERR_MODEL;
    }
    if (arena_len < model->arena_bytes || ((uintptr_t)arena & 3u) != 0u) {
        return TLM_ERR_ARENA;
    }
    tlm->model = model;
    tlm->arena = (uint8_t *)arena;
    tlm->window = (int32_t *)(void *)(tlm->arena + model->window_offset);
    tlm->logits = (const int8_t *)(tlm->arena + model->logits_offset);
    tlm->control = model->n_states > 0 ? (uint32_t *)(void *)(tlm->arena + model->control_offset) : NULL;
    return tlm_reset(tlm);
}

static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i;
    for (i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

static void fill_bytes(int8_t *dst, int32_t value, int32_t n) {
    int32_t i;
    for (i = 0; i < n; i++) {
        dst[i] = (int8_t)value;
    }
}

/* ----------------------------------------------------------------------------------------- */
/* The embedding ring: the window's embedding rows, kept from step to step                   */
/*
 * Window slot j (0..K-1) is stored twice, as ring rows j and j + K; the window, oldest first,
 * is rows head .. head + K - 1: always contiguous, so the plan's first FULLY_CONNECTED reads
 * it in place (tlm_ring_rows). A push overwrites the oldest slot (head) with the new id's row
 * and moves head on: one row copied twice per token instead of K rows gathered per step.
 */

static void copy_row(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(dst + i, src + i, 4);    /* a word load and store where the core allows */
    }
    for (; i < n; i++) {
        dst[i] = src[i];
    }
}

/* The embedding of `token` into window slot `slot` (and its mirror). */
static void ring_put(Tlm *tlm, uint32_t slot, int32_t token) {
    const TlmModel *m = tlm->model;
    int8_t *rows = (int8_t *)(tlm->arena + m->ring_offset + 4u);
    const int8_t *row = m->embed_table + (size_t)token * (size_t)m->embed_row;
    copy_row(rows + (size_t)slot * (size_t)m->embed_row, row, m->embed_row);
    copy_row(rows + ((size_t)slot + (size_t)m->context) * (size_t)m->embed_row, row, m->embed_row);
}

TlmStatus tlm_window_changed(Tlm *tlm) {
    int32_t i;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < tlm->model->context; i++) {
        if (tlm->window[i] < 0 || tlm->window[i] >= tlm->model->vocab) {
            return TLM_ERR_TOKEN;
        }
    }
    if (tlm->model->embed_table != NULL) {
        *(uint32_t *)(void *)(tlm->arena + tlm->model->ring_offset) = 0u;
        for (i = 0; i < tlm->model->context; i++) {
            ring_put(tlm, (uint32_t)i, tlm->window[i]);
        }
    }
    return TLM_OK;
}

TlmStatus tlm_reset(Tlm *tlm) {
    int32_t i;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < tlm->model->context; i++) {
        tlm->window[i] = TLM_PAD;
    }
    if (tlm->model->embed_table != NULL) {
        (void)tlm_window_changed(tlm);
    }
    if (tlm->control != NULL) {
        for (i = 0; i < tlm->model->n_states; i++) {
            const TlmState *s = &tlm->model->states[i];
            fill_bytes((int8_t *)(tlm->arena + s->input_offset), s->zero, s->size);
            if (s->delay > 1) {
                fill_bytes((int8_t *)(tlm->arena + s->ring_offset), s->zero, (s->delay - 1) * s->size);
            }
            tlm->control[1 + i] = 0u;
        }
        tlm->control[0] = 1u;  /* <pad> pending: the first step of every sequence */
    }
    return TLM_OK;
}

/* After a step: each state's output becomes an input `delay` steps later (docs/state.md).
 * The state input holds the output of `delay` steps ago; the ring the delay - 1 newer ones,
 * oldest at `head`. The oldest moves into the input and the new output takes its slot. */
static void carry_states(Tlm *tlm) {
    int32_t i;
    for (i = 0; i < tlm->model->n_states; i++) {
        const TlmState *s = &tlm->model->states[i];
        int8_t *input = (int8_t *)(tlm->arena + s->input_offset);
        const int8_t *output = (const int8_t *)(tlm->arena + s->output_offset);
        int8_t *dst = input;
        if (s->delay > 1) {
            uint32_t *head = &tlm->control[1 + i];
            if (*head >= (uint32_t)(s->delay - 1)) {
                *head = 0u;
            }
            dst = (int8_t *)(tlm->arena + s->ring_offset) + (size_t)*head * (size_t)s->size;
            copy_bytes(input, dst, s->size);
            *head = *head + 1u == (uint32_t)(s->delay - 1) ? 0u : *head + 1u;
        }
        if (s->requantize) {
            (void)tlm_requantize_s8(&s->rescale, output, dst);
        } else {
            copy_bytes(dst, output, s->size);
        }
    }
}

/* One run of the model on the window (a step model: its token), states carried. */
static TlmStatus run_model(Tlm *tlm) {
    TlmStatus status = tlm->model->forward(tlm->arena);
    if (status == TLM_OK && tlm->control != NULL) {
        carry_states(tlm);
        tlm->control[0] = 0u;
    }
    return status;
}

TlmStatus tlm_restart(Tlm *tlm, int32_t token) {
    TlmStatus status = tlm_reset(tlm);
    if (status != TLM_OK) {
        return status;
    }
    if (token < 0 || token >= tlm->model->vocab) {
        return TLM_ERR_TOKEN;
    }
    if (tlm->control == NULL) {
        return tlm_push(tlm, token);
    }
    tlm->window[0] = token;  /* replaces the pending <pad> */
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
    if (tlm->control != NULL) {
        if (tlm->control[0] != 0u) {
            const TlmStatus status = run_model(tlm);
            if (status != TLM_OK) {
                return status;
            }
        }
        tlm->window[0] = token;
        tlm->control[0] = 1u;
        return TLM_OK;
    }
    for (i = 1; i < tlm->model->context; i++) {
        tlm->window[i - 1] = tlm->window[i];
    }
    tlm->window[tlm->model->context - 1] = token;
    if (tlm->model->embed_table != NULL) {
        uint32_t *head = (uint32_t *)(void *)(tlm->arena + tlm->model->ring_offset);
        ring_put(tlm, *head, token);    /* the oldest slot becomes the newest */
        *head = *head + 1u == (uint32_t)tlm->model->context ? 0u : *head + 1u;
    }
    return TLM_OK;
}

TlmStatus tlm_step(Tlm *tlm, const int8_t **logits) {
    TlmStatus status = TLM_OK;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    if (tlm->control == NULL || tlm->control[0] != 0u) {
        status = run_model(tlm);
    }
    if (logits != NULL) {
        *logits = status == TLM_OK ? tlm->logits : NULL;
    }
    return status;
}

TlmStatus tlm_forward(Tlm *tlm, const int8_t **logits) {
    TlmStatus status;
    if (tlm == NULL || tlm->model == NULL) {
        return TLM_ERR_ARG;
    }
    status = run_model(tlm);
    if (logits != NULL) {
        *logits = status == TLM_OK ? tlm->logits : NULL;
    }
    return status;
}

/* ----------------------------------------------------------------------------------------- */
/* Text (the encoder is tlm_tokenizer.c)                                                     */

typedef struct {
    Tlm *tlm;
    TlmStatus status;               /* the first push that failed, else TLM_OK */
    int32_t count;                  /* ids pushed */
} TlmPushText;

static int push_one(int32_t id, void *user) {
    TlmPushText *p = (TlmPushText *)user;
    p->status = tlm_push(p->tlm, id);
    p->count += p->status == TLM_OK;
    return p->status != TLM_OK;
}

TlmStatus tlm_push_text(Tlm *tlm, const char *text, size_t len, int32_t *n_pushed) {
    TlmPushText push;
    TlmStatus status = TLM_OK;
    if (n_pushed != NULL) {
        *n_pushed = 0;
    }
    if (tlm == NULL || tlm->model == NULL || (text == NULL && len > 0)) {
        return TLM_ERR_ARG;
    }
    if (tlm->model->tokenizer == TLM_TOKENIZER_BPE) {  /* the one kind that can refuse a text */
        status = tlm_encode(tlm->model, (const uint8_t *)text, len, NULL, NULL);
    }
    push.tlm = tlm;
    push.status = TLM_OK;
    push.count = 0;
    if (status == TLM_OK) {
        status = tlm_encode(tlm->model, (const uint8_t *)text, len, push_one, &push);
    }
    if (status == TLM_OK) {
        status = push.status;
    }
    if (n_pushed != NULL) {
        *n_pushed = push.count;
    }
    return status;
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
