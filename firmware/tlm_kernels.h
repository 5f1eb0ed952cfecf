/* tlm_kernels.h: the int8 kernels of the tlmc runtime.
 *
 * Each kernel is a pure function over raw pointers and a params struct: it knows nothing of
 * models, allocates nothing, keeps no state. Every quantization constant in the params comes
 * from the generator (toolchain/export/plan/ computes them as TFLM's Prepare functions do), and the
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
    TLM_ERR_MODEL = 4,     /* the model tables are inconsistent (generator bug) */
    TLM_ERR_TEXT = 5       /* a text the tokenizer cannot encode exactly (a BPE piece longer
                              than TLM_PIECE_MAX characters) */
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
/*
 * Two kernel sets implement tlm_fully_connected_s8, one of them linked per build (the build
 * option `kernels`, docs/runtime.md "Kernel sets"); the generator lays the constants out for
 * the set it emits for and says which in `layout`. A kernel handed the other layout returns
 * TLM_ERR_MODEL rather than a wrong answer.
 *   kernels/tlm_fc_reference.c   TLM_FC_ROWS: TFLM's loop as written, the specification
 *   kernels/tlm_fc_portable.c    TLM_FC_PACKED4, plain C (Cortex-M0+, the host)
 *   kernels/tlm_fc_dsp.c         TLM_FC_PACKED4, SMLAD (Cortex-M4/M7: the DSP extension)
 */

typedef enum {
    /* weights (C, D) row-major; bias, multiplier, shift as the model has them (TFLM's) */
    TLM_FC_ROWS = 0,
    /* weights in blocks of 4 rows (zero rows pad C up to a multiple of 4), each block
     * 4*D bytes: D/4 groups of 16 bytes, group g holding for rows r = 0..3 the four bytes
     * w[r][4g+1] ^ 0x80, w[r][4g], w[r][4g+3] ^ 0x80, w[r][4g+2] (kernels/tlm_fc_dsp.c says
     * why); then the D%4 tail columns, row by row, unchanged. rows: a TlmFcRow per output row. */
    TLM_FC_PACKED4 = 1
} TlmFcLayout;

/* TLM_FC_PACKED4's constants of one output row c (the generator computes them). */
typedef struct {
    int32_t bias;               /* bias + input_offset * sum_d w[c][d] + D * input_offset *
                                   weights_offset, mod 2^32: TFLM's sum minus the dot product
                                   (and minus weights_offset * sum(x), 0 per channel); plus
                                   128 * sum_g (w[c][4g] + w[c][4g+2]), which cancels the
                                   packed stream's own term (plan.fold_fc_bias) */
    int32_t multiplier;         /* Q31 significand of the rescale (per channel or repeated) */
    int32_t not_shift;          /* ~shift = -shift - 1, shift the exponent as TFLM's */
    uint32_t round_lo;          /* shift < 0: 2^30 + 2^(30 - shift), the two roundings of */
    int32_t round_hi;           /*   MBQM at once, an int64 in two words; shift >= 0: 0 */
} TlmFcRow;

#if defined(__GNUC__)
#define TLM_ALIGNED4 __attribute__((aligned(4)))  /* packed weights: word loads */
#else
#define TLM_ALIGNED4
#endif

typedef struct {
    int32_t in_features;        /* D: input length = weight row length */
    int32_t out_features;       /* C: output length = weight rows */
    int32_t input_offset;       /* -(input zero point) (TLM_FC_PACKED4: folded into rows) */
    int32_t weights_offset;     /* -(weights zero point); 0 for per-channel weights */
    int32_t output_offset;      /* output zero point */
    int32_t act_min;            /* output clamp, fused activation included */
    int32_t act_max;
    int32_t per_channel;        /* 1: multiplier/shift hold C entries; 0: one entry for all */
    int32_t layout;             /* a TlmFcLayout: how the constants below are laid out */
    const int8_t *weights;      /* TLM_FC_ROWS: (C, D); TLM_FC_PACKED4: (4 * ceil(C/4) * D),
                                   4-byte aligned */
    const int32_t *bias;        /* TLM_FC_ROWS: (C), or NULL */
    const int32_t *multiplier;  /* TLM_FC_ROWS: (C) or (1), Q31 significands of the rescale */
    const int32_t *shift;       /* TLM_FC_ROWS: (C) or (1), power-of-two exponents */
    const TlmFcRow *rows;       /* TLM_FC_PACKED4: (C); else NULL */
} TlmFullyConnected;

/* output[c] = clamp(output_offset + rescale_c(bias[c] + sum_d (w[c,d] + weights_offset) *
 *                                                   (input[d] + input_offset)))
 * (the same numbers from either layout's constants). The int32 sum wraps as TFLM's
 * accumulator does. input (D) and output (C) must not overlap. */
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

/* ----------------------------------------------------------------------------------------- */
/* Elementwise int8 ops (tlm_elementwise.c): ADD, SUB, MUL, LOGISTIC/TANH, requantize        */
/*
 * Operands of ADD/SUB/MUL have n elements, or one element repeated (a broadcast scalar or
 * constant): the *_step fields are 1 or 0. Inputs and output may be the same array.
 */

/* ADD and SUB (TFLM reference_integer_ops::AddFunc / reference_ops::SubElementwise):
 *   a' = rescale_a((a + a_offset) << left_shift),  b' = rescale_b((b + b_offset) << left_shift)
 *   out = clamp(output_offset + rescale_out(a' + b'  or  a' - b'), act_min, act_max)
 * Each rescale is tlm_multiply_by_quantized_multiplier with a shift <= 0. */
typedef struct {
    int32_t n;                  /* output elements */
    int32_t a_step;             /* 1: a has n elements; 0: one, used for all */
    int32_t b_step;
    int32_t subtract;           /* 0: ADD, 1: SUB (a - b) */
    int32_t a_offset;           /* -(a zero point) */
    int32_t b_offset;           /* -(b zero point) */
    int32_t left_shift;         /* headroom bits before the input rescales (20 for int8) */
    int32_t a_multiplier;       /* Q31 significand and shift: a_scale / (2 max input scale) */
    int32_t a_shift;
    int32_t b_multiplier;
    int32_t b_shift;
    int32_t output_multiplier;  /* 2 max input scale / (2^left_shift out_scale) */
    int32_t output_shift;
    int32_t output_offset;      /* output zero point */
    int32_t act_min;            /* output clamp, fused activation included */
    int32_t act_max;
} TlmAdd;

TlmStatus tlm_add_s8(const TlmAdd *p, const int8_t *a, const int8_t *b, int8_t *output);

/* MUL (TFLM reference_integer_ops::MulElementwise):
 *   out = clamp(output_offset + rescale((a + a_offset) * (b + b_offset)), act_min, act_max) */
typedef struct {
    int32_t n;
    int32_t a_step;             /* 1: a has n elements; 0: one, used for all */
    int32_t b_step;
    int32_t a_offset;           /* -(a zero point) */
    int32_t b_offset;           /* -(b zero point) */
    int32_t output_multiplier;  /* a_scale * b_scale / out_scale: Q31 significand and shift */
    int32_t output_shift;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} TlmMul;

TlmStatus tlm_mul_s8(const TlmMul *p, const int8_t *a, const int8_t *b, int8_t *output);

/* LOGISTIC and TANH: out[i] = table[in[i] + 128]. The generator fills the table with TFLM's
 * fixed-point result (gemmlowp logistic/tanh on a Q4.27 input) for each of the 256 inputs. */
typedef struct {
    int32_t n;
    const int8_t *table;        /* (256) output for input -128..127 */
} TlmLookup;

TlmStatus tlm_lookup_s8(const TlmLookup *p, const int8_t *input, int8_t *output);

/* int8 from one quantization to another (a state's output fed back as its input):
 *   out = clamp(output_offset + rescale(in + input_offset), -128, 127) */
typedef struct {
    int32_t n;
    int32_t input_offset;       /* -(zero point of the input) */
    int32_t output_offset;      /* zero point of the output */
    int32_t multiplier;         /* in_scale / out_scale: Q31 significand and shift */
    int32_t shift;
} TlmRequantize;

TlmStatus tlm_requantize_s8(const TlmRequantize *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TLM_KERNELS_H */
