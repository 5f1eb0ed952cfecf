/* tlm_elementwise.c: the int8 elementwise kernels (ADD, SUB, MUL, LOGISTIC/TANH lookups,
 * requantize), bit-exact with TFLM's reference kernels. Every constant comes from
 * toolchain/export/plan/; these loops only apply them. tlm_kernels.h states the arithmetic.
 */
#include "tlm_kernels.h"

#include <stddef.h>

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ----------------------------------------------------------------------------------------- */
/* ADD / SUB                                                                                 */

TlmStatus tlm_add_s8(const TlmAdd *p, const int8_t *a, const int8_t *b, int8_t *output) {
    int32_t i;
    size_t ia = 0;
    size_t ib = 0;
    if (p == NULL || a == NULL || b == NULL || output == NULL || p->n < 1 || p->left_shift < 0 ||
        p->left_shift > 24) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < p->n; i++) {
        /* |x + offset| <= 255, so the shifted value fits an int32 for left_shift <= 23 */
        const int32_t x = (int32_t)((uint32_t)(a[ia] + p->a_offset) << p->left_shift);
        const int32_t y = (int32_t)((uint32_t)(b[ib] + p->b_offset) << p->left_shift);
        const int32_t sx = tlm_multiply_by_quantized_multiplier(x, p->a_multiplier, p->a_shift);
        const int32_t sy = tlm_multiply_by_quantized_multiplier(y, p->b_multiplier, p->b_shift);
        const int32_t raw = tlm_multiply_by_quantized_multiplier(p->subtract ? sx - sy : sx + sy,
                                                                 p->output_multiplier, p->output_shift);
        output[i] = (int8_t)clamp(raw + p->output_offset, p->act_min, p->act_max);
        ia += (size_t)p->a_step;
        ib += (size_t)p->b_step;
    }
    return TLM_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* MUL                                                                                       */

TlmStatus tlm_mul_s8(const TlmMul *p, const int8_t *a, const int8_t *b, int8_t *output) {
    int32_t i;
    size_t ia = 0;
    size_t ib = 0;
    if (p == NULL || a == NULL || b == NULL || output == NULL || p->n < 1) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < p->n; i++) {
        const int32_t prod = (a[ia] + p->a_offset) * (b[ib] + p->b_offset); /* |prod| <= 255 * 255 */
        const int32_t raw = tlm_multiply_by_quantized_multiplier(prod, p->output_multiplier, p->output_shift);
        output[i] = (int8_t)clamp(raw + p->output_offset, p->act_min, p->act_max);
        ia += (size_t)p->a_step;
        ib += (size_t)p->b_step;
    }
    return TLM_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* LOGISTIC / TANH                                                                           */

TlmStatus tlm_lookup_s8(const TlmLookup *p, const int8_t *input, int8_t *output) {
    int32_t i;
    if (p == NULL || input == NULL || output == NULL || p->table == NULL || p->n < 1) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < p->n; i++) {
        output[i] = p->table[input[i] + 128];
    }
    return TLM_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Requantize                                                                                */

TlmStatus tlm_requantize_s8(const TlmRequantize *p, const int8_t *input, int8_t *output) {
    int32_t i;
    if (p == NULL || input == NULL || output == NULL || p->n < 1) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < p->n; i++) {
        const int32_t v = tlm_multiply_by_quantized_multiplier(input[i] + p->input_offset, p->multiplier, p->shift);
        output[i] = (int8_t)clamp(v + p->output_offset, -128, 127);
    }
    return TLM_OK;
}
