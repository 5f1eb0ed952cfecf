/* tlm_kernels.c: portable C99 int8 kernels, bit-exact with TFLM's reference kernels.
 * FULLY_CONNECTED lives in kernels/ (one file per kernel set, see tlm_kernels.h).
 *
 * Two implementation-defined behaviours are assumed, as TFLM assumes them: >> on a negative
 * signed integer is an arithmetic shift, and converting an out-of-range unsigned value to a
 * signed type wraps modulo 2^32. gcc and clang on every target tlmc supports do both.
 */
#include "tlm_kernels.h"

#include <stddef.h>

const char *tlm_status_text(TlmStatus status) {
    switch (status) {
    case TLM_OK: return "ok";
    case TLM_ERR_ARG: return "bad argument";
    case TLM_ERR_ARENA: return "arena too small or misaligned";
    case TLM_ERR_TOKEN: return "token id out of range";
    case TLM_ERR_MODEL: return "inconsistent model tables";
    case TLM_ERR_TEXT: return "a piece of the text is too long to tokenize";
    }
    return "unknown status";
}

/* ----------------------------------------------------------------------------------------- */
/* Fixed-point rescaling (gemmlowp's primitives, as TFLM uses them)                          */

/* The high 32 bits of 2*a*b, rounded to nearest (ties toward +infinity); the one overflowing
 * case saturates. */
static int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C division truncates toward zero, which is what the nudge above is designed for */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent, rounded to nearest with ties away from zero. 0 <= exponent <= 31. */
static int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t tlm_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left); /* wraps like TFLM's x * (1 << left) */
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right);
}

/* ----------------------------------------------------------------------------------------- */
/* GATHER                                                                                    */

TlmStatus tlm_gather_s8(const TlmGather *p, const int32_t *ids, int8_t *output) {
    int32_t i;
    int32_t j;
    if (p == NULL || ids == NULL || output == NULL || p->table == NULL || p->row_len < 1) {
        return TLM_ERR_ARG;
    }
    for (i = 0; i < p->n_ids; i++) {
        const int32_t id = ids[i];
        const int8_t *row;
        if (id < 0 || id >= p->rows) {
            return TLM_ERR_TOKEN;
        }
        row = p->table + (size_t)id * (size_t)p->row_len;
        for (j = 0; j < p->row_len; j++) {
            output[(size_t)i * (size_t)p->row_len + (size_t)j] = row[j];
        }
    }
    return TLM_OK;
}
