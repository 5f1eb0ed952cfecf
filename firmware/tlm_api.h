/* tlm_api.h: the generated model from your own code, in C or C++: four calls over the runtime.
 *
 * The runtime (tlm_runtime.h) runs a model token by token; these calls are what an application
 * wants from it: a completion of a prompt, streamed token by token, and for a voice-command
 * model the command an utterance means, as text and as an intent with slot values.
 *
 *     static uint32_t arena[TLM_API_ARENA_WORDS];    the model's memory, yours (static)
 *     static Tlm tlm;
 *     tlm_api_init(&tlm, arena, sizeof arena);
 *
 *     TlmCompletion c = TLM_COMPLETION_INIT;          greedy, 60 tokens
 *     tlm_api_complete(&tlm, "turn on the", 11, &c, print_text, NULL, NULL);
 *
 *     TlmCommandText said;                            "light.off kitchen"
 *     tlm_api_command(&tlm, "turn the kitchen lights off", 27, &said);
 *     TlmApiCommand cmd;
 *     if (tlm_api_parse(said.text, said.len, &cmd) == TLM_COMMAND_OK) ...  cmd.name, cmd.slots
 *
 * Nothing allocates, nothing is global: the state is the caller's Tlm and arena, a call's
 * results are in the caller's structs. Every call resets the model first, so calls do not
 * depend on each other. One Tlm serves one caller at a time (no locking inside).
 */
#ifndef TLM_API_H
#define TLM_API_H

#include <stddef.h>
#include <stdint.h>

#include "tlm_command.h"
#include "tlm_config.h"
#include "tlm_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The arena as 32-bit words (4-byte aligned by its type): TLM_ARENA_BYTES from tlm_config.h,
 * the size the generator planned for this model. */
#define TLM_API_ARENA_WORDS ((TLM_ARENA_BYTES + 3u) / 4u)

/* Bind the generated model (tlm_model, model_data.c) to arena[0..arena_len) and reset it.
 * TLM_ERR_ARENA if the arena is smaller than TLM_ARENA_BYTES or not 4-byte aligned. */
TlmStatus tlm_api_init(Tlm *tlm, void *arena, size_t arena_len);

/* ----------------------------------------------------------------------------------------- */
/* Completion                                                                                */

typedef struct {
    int32_t max_tokens;             /* tokens to generate at most, >= 0 */
    uint32_t seed;                  /* xorshift32 seed (docs/sampling.md) */
    int32_t temp_milli;             /* temperature in thousandths; 0 = greedy (the seed unused) */
    int32_t top_k;                  /* sample among the k most likely; 0 = all */
    int32_t stop_at_newline;        /* 1: end at the first LF the model writes (not passed on) */
} TlmCompletion;

/* Greedy, 60 tokens, to the end: `TlmCompletion c = TLM_COMPLETION_INIT;` then change fields. */
#define TLM_COMPLETION_INIT {60, 1, 0, 0, 0}

/* Called with each generated token: its id and its text (UTF-8 bytes, not NUL-terminated; may
 * be empty). A nonzero return stops the completion after this token. */
typedef int (*TlmTextFn)(int32_t id, const char *text, size_t len, void *user);

/* Reset, push prompt[0..len), then generate: what `tlmc generate --int8` prints for the same
 * prompt and options, and the protocol's GEN streams. on_text (may be NULL) gets each token;
 * *n_tokens (may be NULL) the number generated. A prompt the tokenizer cannot encode is
 * TLM_ERR_TEXT, before anything is generated. */
TlmStatus tlm_api_complete(Tlm *tlm, const char *prompt, size_t len, const TlmCompletion *opts, TlmTextFn on_text,
                           void *user, int32_t *n_tokens);

/* ----------------------------------------------------------------------------------------- */
/* Voice commands                                                                            */

#ifndef TLM_API_COMMAND_MAX
#define TLM_API_COMMAND_MAX 127     /* bytes of a command text (the NUL excluded) */
#endif
#define TLM_API_COMMAND_TOKENS 64   /* tokens a command may take: the protocol's CMD limit */

typedef struct {
    char text[TLM_API_COMMAND_MAX + 1];  /* the command, NUL-terminated: "light.off kitchen" */
    size_t len;                     /* bytes in text */
    int32_t n_tokens;               /* tokens decoded */
    int32_t complete;               /* 1: the model ended the command with its newline; 0: cut
                                       at TLM_API_COMMAND_TOKENS tokens or TLM_API_COMMAND_MAX
                                       bytes (not a command a parse will accept) */
} TlmCommandText;

/* The command the model writes after utterance[0..len): it is prompted with the utterance and
 * " =>", as in training, and decoded greedily to its newline; out->text is the decoded text
 * without that newline and without the one space after the separator: what the protocol's CMD
 * answers as text=. TLM_ERR_ARG for an empty utterance. */
TlmStatus tlm_api_command(Tlm *tlm, const char *utterance, size_t len, TlmCommandText *out);

/* A command text as numbers firmware can switch on.
 *
 * A commands project with a grammar (TLM_HAS_GRAMMAR 1): tlm_command_parse() with the
 * grammar's tables (tlm_commands.h): intent is a TLM_INTENT_<NAME>, name the intent's name,
 * slots as TlmSlotValue says (list values with their canonical text, numbers as numbers).
 *
 * Without a grammar (the built-in recipe: "light.dim living_room 30"): the command's words.
 * The first word must be domain.verb ("light.dim"): it is `name`; intent is -1. Each further
 * word is a slot, present, with its text; a word of 1 to 9 decimal digits also has its value
 * ("30" -> 30, "0730" -> 730), any other word value 0. The texts are NUL-terminated
 * copies in `words`: they point into this struct, so parse again rather than copy it.
 *
 * Both ways: TLM_COMMAND_ERR_SYNTAX for an empty text, a space at either end or two in a row;
 * TLM_COMMAND_ERR_ARG for a NULL pointer or (words) a text over TLM_API_COMMAND_MAX bytes.
 * Words: TLM_COMMAND_ERR_INTENT when the first word is no domain.verb, TLM_COMMAND_ERR_EXTRA
 * for more than TLM_COMMAND_SLOTS words after it. */
typedef struct {
    int32_t intent;                 /* grammar: the intent's index (TLM_INTENT_...); else -1 */
    const char *name;               /* "light.dim"; NULL if refused */
    int32_t n_slots;                /* grammar: the intent's output slots; words: words after name */
    TlmSlotValue slots[TLM_COMMAND_SLOTS];
    size_t error_at;                /* refused: the byte offset of the token at fault; else 0 */
    char words[TLM_API_COMMAND_MAX + 1];  /* without a grammar: the text, a NUL after each word */
} TlmApiCommand;

TlmCommandStatus tlm_api_parse(const char *text, size_t len, TlmApiCommand *out);

#ifdef __cplusplus
}
#endif

#endif /* TLM_API_H */
