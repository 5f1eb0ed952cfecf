/* tlm_fc_dsp.c: FULLY_CONNECTED for cores with the Arm DSP extension (Cortex-M4/M7/M33): the
 * `optimized` kernel set there. Same layout and same results as tlm_fc_portable.c.
 *
 * SMLAD multiplies two pairs of signed 16-bit lanes and adds both products to an int32: two
 * MACs in one instruction, once the int8 values sit in 16-bit lanes. Getting them there is
 * the cost. SXTB16 sign-extends bytes 0 and 2 of a word into the two lanes; bytes 1 and 3
 * would need a rotate first (GCC 12 does not merge the rotate into SXTB16, and its arm_acle.h
 * has no __ror). Instead, `word & 0xFF00FF00` leaves bytes 1 and 3 in the top of each lane,
 * which read as signed 16-bit values are exactly 256 times the bytes. So every product comes
 * out 256 times too large when the other factor is taken unscaled:
 *
 *   input word   x0 x1 x2 x3   ->  xu = (x0, x2)           xs = 256 (x1, x3)
 *   weight word  w1 w0 w3 w2   ->  wu = (w1, w3)           ws = 256 (w0, w2)
 *   SMLAD(wu, xs) + SMLAD(ws, xu) = 256 (w0 x0 + w1 x1 + w2 x2 + w3 x3)
 *
 * The generator swapped the weight bytes (TLM_FC_PACKED4), so unpacking costs one
 * instruction (SXTB16 or AND) per pair of weights, and the input word is unpacked once for
 * four rows: 21 instructions per 16 MACs, 16 of them SMLAD/unpacking, 3 loads, 2 for the input. The scaled sums are exact as long as they fit 31 bits: a chunk of at most
 * 64 groups (4 inputs each) keeps |sum| <= 256 * 4 * 64 * 2^14 = 2^30; then the chunk's
 * sum / 256 joins the row's int32 total.
 */
#include <string.h>

#include "tlm_fc_common.h"

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "kernels/tlm_fc_dsp.c needs the Arm DSP extension (SXTB16, SMLAD); this core gets kernels/tlm_fc_portable.c"
#endif

#include <arm_acle.h>

#define CHUNK_ITERS 8    /* of the unrolled loop: 64 groups, 256 inputs */
#define ODD_BYTES 0xFF00FF00u

static inline uint32_t load_word(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);    /* one LDR; the input may be unaligned (M4/M7 allow it) */
    return v;
}

/* One group: 4 inputs x 4 rows, 16 MACs, 256 x the products added to s0..s3. w: 16 bytes. */
#define FC_GROUP(w, x)                                                                   \
    do {                                                                                 \
        const uint32_t xv_ = load_word(x);                                               \
        const int16x2_t xu_ = __sxtb16((int8x4_t)xv_);                                   \
        const int16x2_t xs_ = (int16x2_t)(xv_ & ODD_BYTES);                              \
        uint32_t w0_, w1_, w2_, w3_;                                                     \
        memcpy(&w0_, (w), 4);                                                            \
        memcpy(&w1_, (w) + 4, 4);                                                        \
        memcpy(&w2_, (w) + 8, 4);                                                        \
        memcpy(&w3_, (w) + 12, 4);                                                       \
        s0 = __smlad(__sxtb16((int8x4_t)w0_), xs_, s0);                                  \
        s0 = __smlad((int16x2_t)(w0_ & ODD_BYTES), xu_, s0);                             \
        s1 = __smlad(__sxtb16((int8x4_t)w1_), xs_, s1);                                  \
        s1 = __smlad((int16x2_t)(w1_ & ODD_BYTES), xu_, s1);                             \
        s2 = __smlad(__sxtb16((int8x4_t)w2_), xs_, s2);                                  \
        s2 = __smlad((int16x2_t)(w2_ & ODD_BYTES), xu_, s2);                             \
        s3 = __smlad(__sxtb16((int8x4_t)w3_), xs_, s3);                                  \
        s3 = __smlad((int16x2_t)(w3_ & ODD_BYTES), xu_, s3);                             \
    } while (0)

/* The end of a block of four rows when D is not a multiple of 32: the 0..7 groups after the
 * unrolled loop, then the D % 4 tail columns (stored row by row after the groups), and the
 * rare weights_offset * sum(x) term. Returns the weights after the block. */
static const int8_t *fc_block_end(const int8_t *w, const int8_t *x, int32_t rest, int32_t tail, uint32_t x_term,
                                  int32_t dot[4]) {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; rest > 0; rest--) {
        FC_GROUP(w, x);
        w += 16;
        x += 4;
    }
    dot[0] += s0 >> 8;
    dot[1] += s1 >> 8;
    dot[2] += s2 >> 8;
    dot[3] += s3 >> 8;
    return fc_add_tail(w, x, tail, x_term, dot);
}

/* by far the most time of a step is spent in this function */
TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output) {
    FcLayer l;
    const TlmStatus status = fc_begin(p, input, output, &l);
    int32_t iters;      /* of the unrolled loop: 8 groups, 32 inputs, 128 MACs */
    int32_t rest;       /* groups after those */
    int32_t tail;       /* columns after the groups */
    const int8_t *w;
    int32_t c;
    if (status != TLM_OK) {
        return status;
    }
    iters = p->in_features / 32;
    rest = (p->in_features / 4) % 8;
    tail = p->in_features % 4;
    w = (const int8_t *)__builtin_assume_aligned(p->weights, 4);
    for (c = 0; c < l.out_features; c += 4) {
        /* the rows' dot products: |dot| <= D * 2^14, no int32 overflow (the plan bounds D) */
        int32_t dot[4];
        const int8_t *x = input;
        const int8_t *const x_end = input + 32 * iters;    /* the unrolled loop's part */
        dot[0] = 0;     /* not an initializer: gcc -Os makes that a memset call */
        dot[1] = 0;
        dot[2] = 0;
        dot[3] = 0;
        while (x != x_end) {
            const int8_t *const chunk_end = x_end - x > 32 * CHUNK_ITERS ? x + 32 * CHUNK_ITERS : x_end;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            do {    /* 8x unrolled: 32 inputs, 128 MACs */
                FC_GROUP(w, x);
                FC_GROUP(w + 16, x + 4);
                FC_GROUP(w + 32, x + 8);
                FC_GROUP(w + 48, x + 12);
                FC_GROUP(w + 64, x + 16);
                FC_GROUP(w + 80, x + 20);
                FC_GROUP(w + 96, x + 24);
                FC_GROUP(w + 112, x + 28);
                w += 128;
                x += 32;
            } while (x != chunk_end);
            dot[0] += s0 >> 8;  /* exact: the chunk sums are multiples of 256 */
            dot[1] += s1 >> 8;
            dot[2] += s2 >> 8;
            dot[3] += s3 >> 8;
        }
        if ((rest | tail | (int32_t)l.x_term) != 0) {
            w = fc_block_end(w, x, rest, tail, l.x_term, dot);
        }
        fc_store(&l, c, dot, output);
    }
    return TLM_OK;
}
