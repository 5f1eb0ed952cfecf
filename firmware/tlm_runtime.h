/* tlm_runtime.h: run a generated tlmc model one token at a time.
 *
 * Three parts, as in llama2.c: the model (TlmModel, const, generated into model_data.c), the
 * run state (Tlm, a few pointers), and memory (one arena the caller owns, usually a static
 * array of TLM_ARENA_BYTES from tlm_config.h). Nothing here allocates or exits; every
 * function returns a TlmStatus.
 *
 * The arena holds the context window (the model input: the last K token ids, oldest first;
 * it persists between steps) followed by the activations of one step, placed by the
 * generator's static memory plan.
 *
 *     Tlm tlm;
 *     tlm_init(&tlm, &tlm_model, arena, sizeof arena);
 *     tlm_push_text(&tlm, "turn on the ", 12, NULL);
 *     tlm_step(&tlm, &logits);                      (int8 logits, V of them)
 */
#ifndef TLM_RUNTIME_H
#define TLM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "tlm_kernels.h"
#include "tlm_sample.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLM_PAD 0                   /* the id a fresh window holds */
#define TLM_UNK 1                   /* char tokenizer: any character outside the vocabulary */

typedef enum {
    TLM_TOKENIZER_CHAR = 0,         /* ids 2.. are Unicode characters (char_codes/char_ids) */
    TLM_TOKENIZER_BYTE = 1          /* byte b is id b + 1 */
} TlmTokenizerKind;

/* The generated straight-line plan: reads the window, writes the logits, all in the arena. */
typedef TlmStatus (*TlmForwardFn)(uint8_t *arena);

/* ----------------------------------------------------------------------------------------- */
/* The model: constant, generated                                                            */

typedef struct {
    int32_t vocab;                  /* V: logits per step; ids are 0..V-1 */
    int32_t context;                /* K: ids in the window */
    uint32_t arena_bytes;           /* bytes the plan needs (TLM_ARENA_BYTES) */
    uint32_t window_offset;         /* arena offset of the int32 (K) window, the model input */
    uint32_t logits_offset;         /* arena offset of the int8 (V) logits, the model output */
    TlmForwardFn forward;           /* the plan: one step */
    int64_t logit_k;                /* sampling constant (docs/sampling.md) */
    const uint32_t *pow2_frac_q16;  /* (256) sampling table */
    int32_t tokenizer;              /* a TlmTokenizerKind */
    const uint8_t *token_bytes;     /* every token's UTF-8 text, concatenated */
    const uint32_t *token_start;    /* (V + 1): token i is token_bytes[start[i] .. start[i+1]) */
    int32_t n_chars;                /* char tokenizer: entries in char_codes / char_ids */
    const uint32_t *char_codes;     /* (n_chars) Unicode code points, ascending */
    const int32_t *char_ids;        /* (n_chars) the id of each code point */
    const char *hash;               /* the model hash the generator saw (16 hex digits) */
} TlmModel;

/* ----------------------------------------------------------------------------------------- */
/* The run state                                                                             */

typedef struct {
    const TlmModel *model;
    uint8_t *arena;                 /* (model->arena_bytes), caller-owned, 4-byte aligned */
    int32_t *window;                /* (K) in the arena: the last K ids, oldest first */
    const int8_t *logits;           /* (V) in the arena: valid after tlm_step */
} Tlm;

/* Bind a model to an arena (at least model->arena_bytes, 4-byte aligned) and reset. */
TlmStatus tlm_init(Tlm *tlm, const TlmModel *model, void *arena, size_t arena_len);

/* The window back to K <pad> ids: the state before any text. */
TlmStatus tlm_reset(Tlm *tlm);

/* Shift the window left by one and append `token` (0..V-1). */
TlmStatus tlm_push(Tlm *tlm, int32_t token);

/* Run the model on the window; *logits (may be NULL) points at the V int8 logits. */
TlmStatus tlm_step(Tlm *tlm, const int8_t **logits);

/* ----------------------------------------------------------------------------------------- */
/* Text                                                                                      */

/* The id of the token starting at text[0..len) and how many bytes it takes (*used >= 1):
 * char tokenizer: one UTF-8 character, TLM_UNK if unknown or malformed (one byte then);
 * byte tokenizer: one byte b -> b + 1. len >= 1. */
int32_t tlm_encode_next(const TlmModel *model, const uint8_t *text, size_t len, size_t *used);

/* Encode text and push every token; *n_pushed (may be NULL) counts them. */
TlmStatus tlm_push_text(Tlm *tlm, const char *text, size_t len, int32_t *n_pushed);

/* The bytes token `id` prints as (*len of them; none for <pad> or an id out of range). */
const uint8_t *tlm_token_text(const TlmModel *model, int32_t id, size_t *len);

/* ----------------------------------------------------------------------------------------- */
/* Generation                                                                                */

typedef struct {
    int32_t n_tokens;               /* how many tokens to generate */
    uint32_t seed;                  /* xorshift32 seed (0 is replaced, see tlm_sample.h) */
    int32_t temp_milli;             /* temperature in thousandths; 0 = greedy */
    int32_t top_k;                  /* 0 = all */
} TlmGenerate;

/* Called with each generated id; a nonzero return stops generation early. */
typedef int (*TlmTokenFn)(int32_t id, void *user);

/* n_tokens times: step, pick an id (docs/sampling.md), report it, push it. The window
 * continues from its current state (push the prompt first). */
TlmStatus tlm_generate(Tlm *tlm, const TlmGenerate *opts, TlmTokenFn on_token, void *user);

#ifdef __cplusplus
}
#endif

#endif /* TLM_RUNTIME_H */
