/* tlm_sample.h: integer-only token sampling (docs/sampling.md), bit-exact with
 * toolchain/export/sampling.py: xorshift32, top-k, and exp() replaced by a 2^(-i/256) table.
 *
 * Like the kernels, these functions keep no state of their own and allocate nothing: the
 * caller owns the PRNG state and passes the per-model constants in.
 */
#ifndef TLM_SAMPLE_H
#define TLM_SAMPLE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TLM_SEED_ZERO 0x9E3779B9u   /* replaces a zero seed: xorshift32 never leaves state 0 */

typedef struct {
    uint32_t state;             /* xorshift32 state, never 0 */
} TlmRng;

typedef struct {
    int32_t temp_milli;         /* temperature in thousandths; 0 = greedy (draws nothing) */
    int32_t top_k;              /* keep the k largest logits; 0 or >= V keeps all */
    int64_t logit_k;            /* per model: round(scale * log2(e) * 2^16 * 1000) */
    const uint32_t *pow2_frac_q16;  /* (256) round(2^16 * 2^(-i/256)) */
} TlmSampler;

/* Seed once per generation request. */
void tlm_rng_seed(TlmRng *rng, uint32_t seed);

/* Marsaglia's xorshift32 (13, 17, 5): the next state. */
uint32_t tlm_rng_next(TlmRng *rng);

/* The id of the largest logit, the lowest id on ties. n >= 1. */
int32_t tlm_argmax_s8(const int8_t *logits, int32_t n);

/* One id from int8 logits (n >= 1, n < 65536). Greedy when temp_milli <= 0. */
int32_t tlm_sample_s8(const TlmSampler *s, const int8_t *logits, int32_t n, TlmRng *rng);

#ifdef __cplusplus
}
#endif

#endif /* TLM_SAMPLE_H */
