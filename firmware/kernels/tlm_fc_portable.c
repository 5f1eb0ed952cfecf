/* tlm_fc_portable.c: FULLY_CONNECTED over packed weights in plain C (the `optimized` kernel
 * set on cores without the DSP extension: Cortex-M0+, and the host).
 *
 * The generator did the work that does not depend on the input: the input offset is folded
 * into the bias (sum_d w*(x + off) = dot(w, x) + off*sum(w)), and the rows are interleaved
 * four by four (TLM_FC_PACKED4, tlm_kernels.h), so each input byte loaded serves four rows and
 * the inner loop is a pure int8 dot product over one contiguous stream of weights.
 */
#include "tlm_fc_common.h"

/* by far the most time of a step is spent in this function */
TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output) {
    FcLayer l;
    const TlmStatus status = fc_begin(p, input, output, &l);
    int32_t groups;
    int32_t tail;
    const int8_t *w;
    int32_t c;
    if (status != TLM_OK) {
        return status;
    }
    groups = p->in_features / 4;
    tail = p->in_features % 4;
    w = p->weights;
    for (c = 0; c < l.out_features; c += 4) {
        /* the rows' dot products: |dot| <= D * 2^14, no int32 overflow (the plan bounds D) */
        int32_t dot[4];
        const int8_t *x = input;
        int32_t g;
        int32_t r;
        dot[0] = 0;     /* not a loop or an initializer: gcc -Os makes those a memset call */
        dot[1] = 0;
        dot[2] = 0;
        dot[3] = 0;
        for (g = 0; g < groups; g++, w += 16, x += 4) {
            const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
            for (r = 0; r < 4; r++) {   /* a row's four bytes of the group: w1 w0 w3 w2 */
                dot[r] += w[4 * r] * x1 + w[4 * r + 1] * x0 + w[4 * r + 2] * x3 + w[4 * r + 3] * x2;
            }
        }
        w = fc_add_tail(w, x, tail, l.x_term, dot);
        fc_store(&l, c, dot, output);
    }
    return TLM_OK;
}
