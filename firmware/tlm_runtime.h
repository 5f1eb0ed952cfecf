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
 *
 * Two kinds of model run behind the same calls (docs/state.md):
 * - a window model (n_states == 0) reads the last K ids; tlm_push shifts the window,
 *   tlm_step runs the model on it (as often as called: the answer is the same).
 * - a step model (n_states > 0) reads one id and its states, and writes the logits and each
 *   state's next value, which the runtime carries to later steps (a ring per state). Its
 *   window is one id wide and holds the *pending* token: the one the model has not run on
 *   yet. tlm_push first runs the model on the pending token (if any), then makes the new id
 *   pending; tlm_step runs the pending token (if any) and returns the logits. So push/step/
 *   generate mean the same for both kinds: after reset and pushing a text, tlm_step gives the
 *   logits that predict the text's next token. The states, the ring heads and the pending
 *   flag all live in the arena's persistent part, next to the window.
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
#define TLM_UNK 1                   /* char, word, bpe: any text outside the vocabulary */

/* Characters one pre-tokenized piece may have for the BPE encoder, which holds a piece's
 * symbols on the stack (4 bytes each). At least the longest text a request line can carry
 * (TLM_LINE_MAX, 256): a longer piece is TLM_ERR_TEXT, never a wrong answer. */
#ifndef TLM_PIECE_MAX
#define TLM_PIECE_MAX 256
#endif

/* docs/tokenizers.md is the contract; toolchain/data/tokenizer.py the host reference. */
typedef enum {
    TLM_TOKENIZER_CHAR = 0,         /* ids 2.. are Unicode characters (char_codes/char_ids) */
    TLM_TOKENIZER_BYTE = 1,         /* byte b is id b + 1 */
    TLM_TOKENIZER_WORD = 2,         /* each piece of the pre-tokenization is a word (word_ids) */
    TLM_TOKENIZER_BPE = 3           /* each piece's characters (char_codes/char_ids), merged by
                                       rank (merge_keys/merge_ranks/merge_ids) */
} TlmTokenizerKind;

/* The generated straight-line plan: reads the window, writes the logits, all in the arena. */
typedef TlmStatus (*TlmForwardFn)(uint8_t *arena);

/* One state of a step model (docs/state.md), placed in the arena by the generator. The
 * step reads `input` (the output of `delay` steps ago) and writes `output`; the runtime
 * keeps the delay - 1 newer outputs in a ring, already in the input's quantization. */
typedef struct {
    uint32_t input_offset;          /* arena offset of the state input, (n) int8, persistent */
    uint32_t output_offset;         /* arena offset of the state output, (n) int8 */
    uint32_t ring_offset;           /* arena offset of the ring, (delay - 1, n) int8, persistent;
                                       unused when delay == 1 */
    int32_t size;                   /* n */
    int32_t delay;                  /* d >= 1 */
    int32_t zero;                   /* the input's zero point: the value of a reset state */
    int32_t requantize;             /* 0: output and input quantized alike, copy the bytes;
                                       1: rescale with `rescale` */
    TlmRequantize rescale;          /* output quantization -> input quantization, n = size */
} TlmState;

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
    int32_t lowercase;              /* 1: ASCII A-Z encode as a-z (no other letter is folded) */
    const uint8_t *token_bytes;     /* every token's UTF-8 text, concatenated */
    const uint32_t *token_start;    /* (V + 1): token i is token_bytes[start[i] .. start[i+1]) */
    int32_t n_chars;                /* char, bpe: entries in char_codes / char_ids */
    const uint32_t *char_codes;     /* (n_chars) Unicode code points, ascending */
    const int32_t *char_ids;        /* (n_chars) the id of each code point */
    int32_t n_words;                /* word: entries in word_ids (V - 2) */
    const uint16_t *word_ids;       /* (n_words) ids 2..V-1 sorted by token text, memcmp order
                                       (a prefix first): binary-searched by piece */
    int32_t n_merges;               /* bpe: entries in the three merge tables (< 65535) */
    const uint32_t *merge_keys;     /* (n_merges) (left id << 16) | right id, ascending */
    const uint16_t *merge_ranks;    /* (n_merges) the pair's rank: the lowest merges first */
    const uint16_t *merge_ids;      /* (n_merges) the id the pair merges into */
    const char *hash;               /* the model hash the generator saw (16 hex digits) */
    int32_t n_states;               /* 0: a window model; S > 0: a step model (context 1) */
    const TlmState *states;         /* (S), or NULL */
    uint32_t control_offset;        /* step models: arena offset of the uint32 control words
                                       (1 + S): [0] pending flag, [1 + s] ring head of state s */
    /* The embedding ring (window models, `optimized` kernels; docs/runtime.md): tlm_push copies
     * only the new id's row of the embedding table; the plan reads the window's K rows, oldest
     * first, contiguous in a mirrored ring. embed_table NULL: no ring, the plan gathers. */
    const int8_t *embed_table;      /* (V, E) the GATHER table of the window's ids */
    int32_t embed_row;              /* E: bytes per row */
    uint32_t ring_offset;           /* arena offset of the ring: uint32 head, then (2K, E) rows:
                                       row j and j + K both hold the embedding of window slot j */
} TlmModel;

/* ----------------------------------------------------------------------------------------- */
/* The run state                                                                             */

typedef struct {
    const TlmModel *model;
    uint8_t *arena;                 /* (model->arena_bytes), caller-owned, 4-byte aligned */
    int32_t *window;                /* (K) in the arena: the last K ids, oldest first; a step
                                       model's one pending id (writing it replaces that id). A
                                       window written directly needs tlm_window_changed() */
    const int8_t *logits;           /* (V) in the arena: valid after tlm_step */
    uint32_t *control;              /* step models: the control words in the arena; else NULL */
} Tlm;

/* Bind a model to an arena (at least model->arena_bytes, 4-byte aligned) and reset. */
TlmStatus tlm_init(Tlm *tlm, const TlmModel *model, void *arena, size_t arena_len);

/* The state before any text: the window back to K <pad> ids; a step model's states back to
 * zero (each byte its zero point) with <pad> pending, so its first step runs on <pad>. */
TlmStatus tlm_reset(Tlm *tlm);

/* Reset, with `token` as the text's first id instead of the <pad> start: a window model
 * pushes it; a step model makes it the pending token (the first step runs on it). */
TlmStatus tlm_restart(Tlm *tlm, int32_t token);

/* Append `token` (0..V-1): a window model shifts its window left by one; a step model first
 * runs the model on its pending token, if any, then `token` is pending. */
TlmStatus tlm_push(Tlm *tlm, int32_t token);

/* After writing tlm->window directly (all K ids at once): bring the state derived from it
 * (the embedding ring) up to date. TLM_ERR_TOKEN if an id is out of range. */
TlmStatus tlm_window_changed(Tlm *tlm);

/* The window's K embedding rows, oldest first, contiguous (K * E bytes): what the generated
 * plan reads from an embedding ring at arena offset `ring_offset`. */
static inline const int8_t *tlm_ring_rows(const uint8_t *arena, uint32_t ring_offset, int32_t row_len) {
    const uint32_t head = *(const uint32_t *)(const void *)(arena + ring_offset);
    return (const int8_t *)(arena + ring_offset + 4u + head * (uint32_t)row_len);
}

/* The logits for the text so far; *logits (may be NULL) points at the V int8 logits. A
 * window model runs on its window; a step model runs on its pending token, or, if that ran
 * already, returns the logits it left. */
TlmStatus tlm_step(Tlm *tlm, const int8_t **logits);

/* Run the model once, unconditionally (benchmarks): a window model as tlm_step; a step model
 * on its window's token again, so each call advances the states by one step. */
TlmStatus tlm_forward(Tlm *tlm, const int8_t **logits);

/* ----------------------------------------------------------------------------------------- */
/* Text                                                                                      */

/* Called with each id, in order (tlm_encode, tlm_generate); a nonzero return stops early. */
typedef int (*TlmTokenFn)(int32_t id, void *user);

/* Encode text[0..len) as the host's Tokenizer.encode does (docs/tokenizers.md), calling
 * on_token (may be NULL: only check) with each id in order; nothing is pushed. Any bytes are
 * accepted: malformed UTF-8 counts one character per byte. TLM_ERR_TEXT if a BPE piece has
 * more than TLM_PIECE_MAX characters (the ids before that piece were reported already);
 * TLM_ERR_MODEL if the model's tables do not fit its tokenizer kind. A stop asked for by
 * on_token is TLM_OK. Word and BPE: the texts "<pad>" and "<unk>" are ids 0 and 1 wherever
 * they occur, as in HuggingFace tokenizers (special tokens are matched first). */
TlmStatus tlm_encode(const TlmModel *model, const uint8_t *text, size_t len, TlmTokenFn on_token, void *user);

/* Encode text and push every token; *n_pushed (may be NULL) counts them. A text that cannot
 * be encoded (tlm_encode's TLM_ERR_TEXT) is refused whole: nothing is pushed. */
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

/* n_tokens times: step, pick an id (docs/sampling.md), report it, push it. The window
 * continues from its current state (push the prompt first). For a step model this is the
 * generation rule of docs/state.md: reset, step(<pad>), step each prompt token, then pick and
 * step each picked token. */
TlmStatus tlm_generate(Tlm *tlm, const TlmGenerate *opts, TlmTokenFn on_token, void *user);

#ifdef __cplusplus
}
#endif

#endif /* TLM_RUNTIME_H */
