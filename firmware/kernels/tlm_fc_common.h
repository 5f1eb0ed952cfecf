/* tlm_fc_common.h: what the optimized FULLY_CONNECTED kernels (layout TLM_FC_PACKED4) share
 * around the dot products: the argument checks and the layer's fields (fc_begin), the rare
 * per-tensor weights zero point (fc_input_term), and the output rescale in C (fc_rescale,
 * fc_rescale_down; kernels/tlm_fc_dsp.c and the ARMv6-M part of kernels/tlm_fc_portable.c
 * have it in assembly too). Private to those two files.
 */
#ifndef TLM_FC_COMMON_H
#define TLM_FC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "tlm_kernels.h"

/* The per-row code is inlined even at -Os (gcc would otherwise call it once per row). */
#if defined(__GNUC__)
#define FC_INLINE static inline __attribute__((always_inline))
#else
#define FC_INLINE static inline
#endif

/* TLM_OK if p describes a TLM_FC_PACKED4 layer the kernels can run. */
static inline TlmStatus fc_check(const TlmFullyConnected *p, const int8_t *input, const int8_t *output) {
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->rows == NULL ||
        p->in_features < 1 || p->out_features < 1 || ((uintptr_t)p->weights & 3u) != 0u) {
        return TLM_ERR_ARG;
    }
    return p->layout == TLM_FC_PACKED4 ? TLM_OK : TLM_ERR_MODEL;
}

/* weights_offset * sum(x): the one term of TFLM's sum the generator cannot fold, because it
 * depends on the input. Zero for per-channel weights, which is what converters produce. */
static inline uint32_t fc_input_term(const TlmFullyConnected *p, const int8_t *input) {
    uint32_t sum = 0u;
    int32_t d;
    if (p->weights_offset == 0) {
        return 0u;
    }
    for (d = 0; d < p->in_features; d++) {
        sum += (uint32_t)(int32_t)input[d];
    }
    return (uint32_t)p->weights_offset * sum;
}

/* tlm_multiply_by_quantized_multiplier for multiplier >= 0 (the plan guarantees it), in fewer
 * steps, same result: gemmlowp's SaturatingRoundingDoublingHighMul, trunc((a*m + nudge) / 2^31)
 * with the sign-dependent nudge, equals floor((a*m + 2^30) / 2^31) for every a*m, and cannot
 * saturate when m >= 0; then RoundingDivideByPOT (ties away from zero). */
static inline int32_t fc_rescale(int32_t acc, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t prod = (int64_t)(int32_t)((uint32_t)acc << left) * (int64_t)multiplier;
    const int32_t high = (int32_t)((prod + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

/* The same for shift = -e < 0, the usual case, with both roundings in one 64-bit addition:
 * with h = floor((P + 2^30) / 2^31), P = acc * m, RoundingDivideByPOT(h, e) =
 * floor((h + 2^(e-1) - [h < 0]) / 2^e) = (P + 2^30 + 2^(30+e) - [h < 0] 2^31) >> (31 + e),
 * and [acc < 0] may stand for [h < 0] (they differ only where both results are 0). The
 * generator stores 2^30 + 2^(30+e) as round_lo/hi. The result is the high word of the sum
 * shifted right by e - 1 = ~shift. */
FC_INLINE int32_t fc_rescale_down(int32_t acc, const TlmFcRow *row) {
    const int64_t round = (int64_t)(((uint64_t)(uint32_t)row->round_hi << 32) | row->round_lo);
    const int64_t t = (int64_t)acc * row->multiplier + round - (acc < 0 ? ((int64_t)1 << 31) : 0);
    return (int32_t)(t >> 32) >> row->not_shift;
}

/* The fields of one layer the kernels use around the dot products, copied out of the params:
 * the kernels store int8 outputs, which may alias anything, so fields read through `p` would
 * be reloaded for every row. */
typedef struct {
    const TlmFcRow *rows;       /* (C) */
    int32_t out_features;       /* C */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    uint32_t x_term;            /* added to every row's sum: fc_input_term and the kernel's
                                   own input term (-128 * the odd inputs of the groups) */
} FcLayer;

/* The start of both kernels: TLM_OK and *l filled if p describes a layer they can run, else
 * the status to return. */
FC_INLINE TlmStatus fc_begin(const TlmFullyConnected *p, const int8_t *input, const int8_t *output, FcLayer *l) {
    const TlmStatus status = fc_check(p, input, output);
    if (status != TLM_OK) {
        return status;
    }
    l->rows = p->rows;
    l->out_features = p->out_features;
    l->output_offset = p->output_offset;
    l->act_min = p->act_min;
    l->act_max = p->act_max;
    l->x_term = fc_input_term(p, input);
    return TLM_OK;
}

#endif /* TLM_FC_COMMON_H */
