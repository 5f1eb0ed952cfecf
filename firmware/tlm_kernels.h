/* tlm_kernels.h: the int8 kernels of the tlmc runtime.
 *
 * Each kernel is a pure function over raw pointers and a params struct: it knows nothing of
 * models, allocates nothing, keeps no state. Every quantization constant in the params comes
 * from the generator (toolchain/plan.py computes them as TFLM's Prepare functions do), and the
 * arithmetic reproduces TFLM's reference kernels bit for bit (see docs/runtime.md).
 *
 * An optimized variant of a kernel (e.g. a Cortex-M DSP FULLY_CONNECTED) is a sibling .c file
 * defining the same function, chosen by the build, not an #ifdef in this one.
 */
#ifndef TLM_KERNELS_H
#define TLM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------------------- */
/* Status codes returned by every runtime function                                           */

typedef enum {
    TLM_OK = 0,
    TLM_ERR_ARG = 1,       /* a NULL pointer or a size out of range */
    TLM_ERR_ARENA = 2,     /* arena too small or not 4-byte aligned */
    TLM_ERR_TOKEN = 3,     /* a token id outside 0..V-1 */
    TLM_ERR_MODEL = 4      /* the model tables are inconsistent (generator bug) */
} TlmStatus;

/* A short English name for a status ("ok", "token out of range", ...). */
const char *tlm_status_text(TlmStatus status);

/* ----------------------------------------------------------------------------------------- */
/* Fixed-point rescaling                                                                     */

/* x * multiplier * 2^(shift - 31), rounded exactly as TFLM's (double-rounding)
 * MultiplyByQuantizedMultiplier: a saturating rounding doubling high multiply by the Q31
 * multiplier, then a rounding right shift (ties away from zero). shift > 0 shifts x left
 * first (wrapping in 32 bits, as TFLM does). multiplier >= 0, -31 <= shift <= 30. */
int32_t tlm_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);

/* ----------------------------------------------------------------------------------------- */
/* FULLY_CONNECTED, int8 in, int8 weights, int32 bias, int8 out                              */

typedef struct {
    int32_t in_features;        /* D: input length = weight row length */
    int32_t out_features;       /* C: output length = weight rows */
    int32_t input_offset;       /* -(input zero point) */
    int32_t weights_offset;     /* -(weights zero point); 0 for per-channel weights */
    int32_t output_offset;      /* output zero point */
    int32_t act_min;            /* output clamp, fused activation included */
    int32_t act_max;
    int32_t per_channel;        /* 1: multiplier/shift hold C entries; 0: one entry for all */
    const int8_t *weights;      /* (C, D) row-major */
    const int32_t *bias;        /* (C), or NULL */
    const int32_t *multiplier;  /* (C) or (1): Q31 significands of the output rescale */
    const int32_t *shift;       /* (C) or (1): power-of-two exponents of the output rescale */
} TlmFullyConnected;

/* output[c] = clamp(output_offset + rescale_c(bias[c] + sum_d (w[c,d] + weights_offset) *
 *                                                   (input[d] + input_offset)))
 * input (D) and output (C) must not overlap. */
TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output);

/* ----------------------------------------------------------------------------------------- */
/* GATHER, int8 rows of a constant table by int32 ids                                        */

typedef struct {
    int32_t rows;               /* R: table rows (the vocabulary for an embedding) */
    int32_t row_len;            /* E: bytes per row */
    int32_t n_ids;              /* N: ids gathered per call */
    const int8_t *table;        /* (R, E) */
} TlmGather;

/* output[i, :] = table[ids[i], :] for i < N. An id outside 0..R-1 is TLM_ERR_TOKEN (TFLM
 * refuses it too) and leaves output partly written. */
TlmStatus tlm_gather_s8(const TlmGather *p, const int32_t *ids, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TLM_KERNELS_H */
