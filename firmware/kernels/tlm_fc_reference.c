/* tlm_fc_reference.c: FULLY_CONNECTED as TFLM's reference kernel states it (the `reference`
 * kernel set). One row at a time, one MAC per weight with both offsets applied in the loop:
 * the specification the optimized kernels are measured and tested against.
 *
 * Layout TLM_FC_ROWS: weights (C, D) row-major, the model's own bias (or NULL).
 */
#include <stddef.h>

#include "tlm_kernels.h"

TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output) {
    int32_t n_in;
    int32_t input_offset;
    int32_t weights_offset;
    int32_t c;
    int32_t d;
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->multiplier == NULL ||
        p->shift == NULL || p->in_features < 1 || p->out_features < 1) {
        return TLM_ERR_ARG;
    }
    if (p->layout != TLM_FC_ROWS) {
        return TLM_ERR_MODEL;   /* constants emitted for the other kernel set */
    }
    n_in = p->in_features;      /* the params as locals, as TFLM's kernel takes them */
    input_offset = p->input_offset;
    weights_offset = p->weights_offset;
    for (c = 0; c < p->out_features; c++) {
        const int8_t *row = p->weights + (size_t)c * (size_t)n_in;
        const int32_t k = p->per_channel ? c : 0;
        /* TFLM's int32 accumulator; unsigned so that wrapping is defined C (the plan refuses
         * layers whose sum of products could wrap; a huge bias still can, as in TFLM) */
        uint32_t acc = 0u;
        int32_t out;
        for (d = 0; d < n_in; d++) {
            acc += (uint32_t)(((int32_t)row[d] + weights_offset) * ((int32_t)input[d] + input_offset));
        }
        if (p->bias != NULL) {
            acc += (uint32_t)p->bias[c];
        }
        out = tlm_multiply_by_quantized_multiplier((int32_t)acc, p->multiplier[k], p->shift[k]);
        out += p->output_offset;
        out = out < p->act_min ? p->act_min : out;
        out = out > p->act_max ? p->act_max : out;
        output[c] = (int8_t)out;
    }
    return TLM_OK;
}
