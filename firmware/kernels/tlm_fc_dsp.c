/* tlm_fc_dsp.c: FULLY_CONNECTED for cores with the Arm DSP extension (Cortex-M4/M7/M33): the
 * `optimized` kernel set there. Same layout and same results as tlm_fc_portable.c.
 *
 * SMLAD multiplies two pairs of signed 16-bit lanes and adds both products to an int32: two
 * MACs in one instruction, once the factors sit in 16-bit lanes. Unpacking int8 weights into
 * lanes costs two instructions a word (SXTB16 of bytes 0, 2 and of bytes 1, 3), as many as
 * the SMLADs. The generator stores each weight word so that its two halves need no unpacking
 * (TLM_FC_PACKED4): the half of a row's word for inputs 2k, 2k+1 holds the low byte
 * w[2k+1] ^ 0x80 and the high byte w[2k], so read as a signed 16-bit lane it is exactly
 *
 *   r = 256 w0 + w1 + 128          (w0 = w[2k], w1 = w[2k+1]; -32768 <= r <= 32767)
 *
 * and one SXTB16 of bytes 1, 3 gives v = w0. The input word x0 x1 x2 x3 is unpacked once for
 * four rows into p = x1 (SXTB16 of bytes 1, 3) and q = -256 x1 + x0 - 128 (the word XOR
 * 0xFF80FF80: the low byte x0 ^ 0x80 reads as x0 + 128, the high byte ~x1 as -x1 - 1; q takes
 * exactly the 65,536 values of a lane, no more), and
 *
 *   r p + v q = 256 w0 x1 + (w1 + 128) x1 - 256 w0 x1 + w0 x0 - 128 w0
 *             = w0 x0 + w1 x1 + 128 x1 - 128 w0
 *
 * One unpacking instruction and two SMLADs per weight word: a group of 4 inputs x 4 rows (16
 * MACs) is 16 instructions, 12 of them for the weights, 3 for the input word, 1 LDM of the
 * four weight words. Over the groups a row's sum is its dot product + 128 * (sum of x[4g+1] +
 * x[4g+3]) - 128 * (sum of w[4g] + w[4g+2]): the generator folds the weights' part into the
 * row's bias (plan.fold_fc_bias), the input's part is computed once per layer and starts
 * every row's sum (x_term). SMLAD wraps mod 2^32 like TFLM's int32 accumulator, so no
 * intermediate range matters (the old AND-masked lanes were 256 times too large and needed
 * chunks of 256 inputs).
 *
 * Counted on the emulated M4 (QEMU plugin): 131 instructions per 128 MACs in the unrolled
 * loop (the floor of this form is 128: 64 SMLAD, 32 SXTB16 for the weights, 8 x 3 for the
 * inputs, 8 LDM), 88 per block of four rows around it (22 a row: starting the sums at the
 * bias, the rescale, the clamp, the loop), and about 1.25 per input once per layer (x_term).
 * The block is one piece of inline assembly because it needs 13 registers at once, which GCC
 * 12 -Os does not find in C (it spilled the pointers and reloaded the weights through the
 * stack); GCC also does not merge a rotate into SXTB16, and its arm_acle.h has no __ror.
 */
#include <string.h>

#include "tlm_fc_common.h"

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "kernels/tlm_fc_dsp.c needs the Arm DSP extension (SXTB16, SMLAD); this core gets kernels/tlm_fc_portable.c"
#endif

#include <arm_acle.h>

/* bytes 1 and 3 of v, sign-extended into the two 16-bit lanes (SXTB16 with its rotate) */
static inline uint32_t sxtb16_odd(uint32_t v) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}

static inline uint32_t load_word(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);    /* one LDR; the input may be unaligned (M4/M7 allow it) */
    return v;
}

/* One group: 4 inputs x 4 rows, 16 MACs, 16 instructions (see the top). The weights of the
 * four rows go to r8-r11 in one LDM, which wants its registers named (not r4-r7: r7 is the
 * frame pointer at -O0 and with -fno-omit-frame-pointer); the rest are the
 * compiler's: s0..s3 the sums, w, x the pointers (both advanced), p and q the input lanes,
 * f the constant 0xFF80FF80. */
#define FC_GROUP_ASM                                                                     \
    "ldr    %[q], [%[x]], #4\n\t"                                                        \
    "ldmia  %[w]!, {r8, r9, r10, r11}\n\t"                                               \
    "sxtb16 %[p], %[q], ror #8\n\t"                                                      \
    "eor    %[q], %[q], %[f]\n\t"                                                        \
    "smlad  %[s0], r8, %[p], %[s0]\n\t"                                                  \
    "sxtb16 r8, r8, ror #8\n\t"                                                          \
    "smlad  %[s0], r8, %[q], %[s0]\n\t"                                                  \
    "smlad  %[s1], r9, %[p], %[s1]\n\t"                                                  \
    "sxtb16 r9, r9, ror #8\n\t"                                                          \
    "smlad  %[s1], r9, %[q], %[s1]\n\t"                                                  \
    "smlad  %[s2], r10, %[p], %[s2]\n\t"                                                 \
    "sxtb16 r10, r10, ror #8\n\t"                                                        \
    "smlad  %[s2], r10, %[q], %[s2]\n\t"                                                 \
    "smlad  %[s3], r11, %[p], %[s3]\n\t"                                                 \
    "sxtb16 r11, r11, ror #8\n\t"                                                        \
    "smlad  %[s3], r11, %[q], %[s3]\n\t"

/* One row's D % 4 tail columns (row by row after the block's groups, as they are): SMLABB of
 * the sign-extended bytes, six instructions a column. %[p] holds the count, %[x] the columns'
 * inputs. */
#define FC_TAIL_ASM(s, label)                                                            \
    "mov    %[q], #0\n"                                                                  \
    label ":\n\t"                                                                        \
    "ldrsb  r8, [%[w]], #1\n\t"                                                          \
    "ldrsb  r9, [%[x], %[q]]\n\t"                                                        \
    "smlabb %[" s "], r8, r9, %[" s "]\n\t"                                              \
    "add    %[q], %[q], #1\n\t"                                                          \
    "cmp    %[q], %[p]\n\t"                                                              \
    "bne    " label "b\n\t"

/* Row r's output, rescaled as fc_rescale_down does (the record's shift < 0), plus the output
 * zero point (%[s0] once row 0 is done), saturated to int8, into byte r of %[p]: 10
 * instructions with the record's two LDRDs. The first SMLAL adds sum * multiplier to the
 * record's rounding constant, the second subtracts 2^31 if the sum is negative ([sum < 0] *
 * (int32)0x80000000, %[f]). The record's not_shift is OR-ed into %[q]: negative, some row of
 * the block wants the general rescale (a shift >= 0), and the caller redoes the block. */
#define FC_ROW_ASM(r)                                                                    \
    "ldrd   r8, r9, [%[x], #(20 * " #r " + 4)]\n\t"                                      \
    "ldrd   r10, r11, [%[x], #(20 * " #r " + 12)]\n\t"                                   \
    "smlal  r10, r11, %[s" #r "], r8\n\t"                                                \
    "lsr    r8, %[s" #r "], #31\n\t"                                                     \
    "smlal  r10, r11, r8, %[f]\n\t"                                                      \
    "orr    %[q], %[q], r9\n\t"                                                          \
    "asr    r11, r11, r9\n\t"                                                            \
    "add    r11, r11, %[s0]\n\t"                                                         \
    "ssat   r11, #8, r11\n\t"                                                            \
    "bfi    %[p], r11, #(8 * " #r "), #8\n\t"

/* One block of four rows, start to end: it needs every register but SP and PC, so what it
 * reads besides the weights, the input and the row records comes from the stack (one load a
 * turn for the loop ends). Out: s1..s3 the rows' sums and s0_saved row 0's (its register ends
 * holding the zero point), chk (< 0: redo the outputs with fc_out4_any), out4 the four outputs
 * clamped; w advanced past the block. Instructions: 12 to start the sums at bias + x_term, 16
 * a group (131 per 8 in the unrolled loop, 19 per group in the loop for the 0..7 groups
 * before it), 6 a tail column, 48 for the four outputs and their clamp. */
#define FC_BLOCK_ASM                                                                     \
    "ldr    %[x], %[row]\n\t"                                                            \
    "ldr    %[p], %[x_term]\n\t"                                                         \
    "ldr    %[s0], [%[x], #0]\n\t"                                                       \
    "ldr    %[s1], [%[x], #20]\n\t"                                                      \
    "ldr    %[s2], [%[x], #40]\n\t"                                                      \
    "ldr    %[s3], [%[x], #60]\n\t"                                                      \
    "add    %[s0], %[s0], %[p]\n\t"                                                      \
    "add    %[s1], %[s1], %[p]\n\t"                                                      \
    "add    %[s2], %[s2], %[p]\n\t"                                                      \
    "add    %[s3], %[s3], %[p]\n\t"                                                      \
    "ldr    %[x], %[input]\n\t"                                                          \
    "mvn    %[f], #0x007F007F\n\t"          /* 0xFF80FF80, for q */                      \
    "ldr    %[p], %[rest_end]\n\t"          /* the groups before the unrolled loop */    \
    "cmp    %[x], %[p]\n\t"                                                              \
    "beq    2f\n"                                                                        \
    "1:\n\t"                                                                             \
    FC_GROUP_ASM                                                                         \
    "ldr    %[p], %[rest_end]\n\t"                                                       \
    "cmp    %[x], %[p]\n\t"                                                              \
    "bne    1b\n"                                                                        \
    "2:\n\t"                                                                             \
    "ldr    %[p], %[x_end]\n\t"             /* the unrolled loop: 8 groups a turn */     \
    "cmp    %[x], %[p]\n\t"                                                              \
    "beq    4f\n"                                                                        \
    "3:\n\t"                                                                             \
    FC_GROUP_ASM FC_GROUP_ASM FC_GROUP_ASM FC_GROUP_ASM                                  \
    FC_GROUP_ASM FC_GROUP_ASM FC_GROUP_ASM FC_GROUP_ASM                                  \
    "ldr    %[p], %[x_end]\n\t"                                                          \
    "cmp    %[x], %[p]\n\t"                                                              \
    "bne    3b\n"                                                                        \
    "4:\n\t"                                                                             \
    "ldr    %[p], %[tail]\n\t"              /* the D % 4 tail columns */                 \
    "cmp    %[p], #0\n\t"                                                                \
    "beq    6f\n\t"                                                                      \
    FC_TAIL_ASM("s0", "50") FC_TAIL_ASM("s1", "51")                                      \
    FC_TAIL_ASM("s2", "52") FC_TAIL_ASM("s3", "53")                                      \
    "6:\n\t"                                                                             \
    "ldr    %[x], %[row]\n\t"               /* the outputs */                            \
    "mov    %[f], #0x80000000\n\t"                                                       \
    "str    %[s0], %[s0_saved]\n\t"                                                      \
    "ldrd   r8, %[q], [%[x], #4]\n\t"       /* row 0: FC_ROW_ASM, and the zero point */   \
    "ldrd   r10, r11, [%[x], #12]\n\t"                                                   \
    "smlal  r10, r11, %[s0], r8\n\t"                                                     \
    "lsr    r8, %[s0], #31\n\t"                                                          \
    "ldr    %[s0], %[zp]\n\t"                                                            \
    "smlal  r10, r11, r8, %[f]\n\t"                                                      \
    "asr    r11, r11, %[q]\n\t"                                                          \
    "add    r11, r11, %[s0]\n\t"                                                         \
    "ssat   %[p], #8, r11\n\t"                                                           \
    FC_ROW_ASM(1) FC_ROW_ASM(2) FC_ROW_ASM(3)                                            \
    "ldr    r8, %[lo4]\n\t"                 /* the activation clamp, bytewise */         \
    "ssub8  r9, %[p], r8\n\t"                                                            \
    "sel    %[p], %[p], r8\n\t"             /* max(out, act_min) */                      \
    "ldr    r8, %[hi4]\n\t"                                                              \
    "ssub8  r9, %[p], r8\n\t"                                                            \
    "sel    %[p], r8, %[p]\n\t"             /* min(out, act_max) */

/* -128 * (sum of x[4g+1] + x[4g+3]) over the groups: the part of every row's sum that the
 * kernel subtracts itself (see the top). Once per layer: SMLAD of the odd bytes with (1, 1)
 * lanes, about 5 instructions per input word. */
static uint32_t fc_odd_term(int32_t in_features, const int8_t *input) {
    const uint32_t groups = (uint32_t)in_features / 4u;
    int32_t odd = 0;
    uint32_t g;
    for (g = 0; g < groups; g++) {
        odd = smlad(sxtb16_odd(load_word(input + 4 * g)), 0x00010001u, odd);
    }
    return 0u - 128u * (uint32_t)odd;
}

/* out4 of a block holding a row with shift >= 0 (a rescale by 1 or more: rare), clamped. */
static __attribute__((noinline)) uint32_t fc_out4_any(const FcLayer *l, const TlmFcRow *row, const int32_t *sum) {
    uint32_t out4 = 0u;
    int32_t r;
    for (r = 3; r >= 0; r--) {
        int32_t out = row[r].not_shift >= 0 ? fc_rescale_down(sum[r], &row[r])
                                            : fc_rescale(sum[r], row[r].multiplier, ~row[r].not_shift);
        out += l->output_offset;
        out = out < l->act_min ? l->act_min : out;
        out = out > l->act_max ? l->act_max : out;
        out4 = (out4 << 8) | ((uint32_t)out & 0xFFu);
    }
    return out4;
}

/* by far the most time of a step is spent in this function */
TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output) {
    FcLayer l;
    const TlmStatus status = fc_begin(p, input, output, &l);
    const int8_t *rest_end;     /* the groups before the unrolled loop end here */
    const int8_t *x_end;        /* the end of the groups */
    uint32_t tail;              /* columns after the groups */
    uint32_t lo4;               /* act_min, act_max in each byte: the clamp of four outputs at once */
    uint32_t hi4;
    const int8_t *w;
    const TlmFcRow *row;
    const TlmFcRow *rows_end;   /* of the full blocks */
    TlmFcRow pad[4];            /* the last block's rows when C % 4 != 0 (zero rows for the padding) */
    if (status != TLM_OK) {
        return status;
    }
    l.x_term += fc_odd_term(p->in_features, input);
    x_end = input + ((uint32_t)p->in_features & ~3u);
    rest_end = input + 4u * (((uint32_t)p->in_features / 4u) % 8u);
    tail = (uint32_t)p->in_features % 4u;
    lo4 = (uint32_t)(uint8_t)l.act_min * 0x01010101u;
    hi4 = (uint32_t)(uint8_t)l.act_max * 0x01010101u;
    w = (const int8_t *)__builtin_assume_aligned(p->weights, 4);
    row = l.rows;
    rows_end = l.rows + (l.out_features & ~3);
    for (;; output += 4, row += 4) {
        int32_t s0, s1, s2, s3, s0_saved;
        uint32_t out4, chk, f;
        const int8_t *x;
        if (row == rows_end) {
            const size_t n = (size_t)(l.out_features & 3);
            if (n == 0u) {
                break;
            }
            memset(pad, 0, sizeof pad);     /* 1..3 rows left: the padding rows have no records */
            memcpy(pad, row, n * sizeof pad[0]);
            row = pad;
        }
        __asm__ volatile(FC_BLOCK_ASM
                         : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [w] "+r"(w),
                           [x] "=&r"(x), [p] "=&r"(out4), [q] "=&r"(chk), [f] "=&r"(f), [s0_saved] "=m"(s0_saved)
                         : [row] "m"(row), [x_term] "m"(l.x_term), [input] "m"(input), [rest_end] "m"(rest_end),
                           [x_end] "m"(x_end), [tail] "m"(tail), [zp] "m"(l.output_offset), [lo4] "m"(lo4),
                           [hi4] "m"(hi4)
                         : "r8", "r9", "r10", "r11", "cc", "memory");
        (void)s0;
        (void)x;
        (void)f;
        if ((int32_t)chk < 0) {
            int32_t sum[4];
            sum[0] = s0_saved;
            sum[1] = s1;
            sum[2] = s2;
            sum[3] = s3;
            out4 = fc_out4_any(&l, row, sum);
        }
        if (row == pad) {
            int32_t r;
            for (r = 0; r < (l.out_features & 3); r++, out4 >>= 8) {
                output[r] = (int8_t)out4;
            }
            break;
        }
        memcpy(output, &out4, sizeof out4);     /* one STR (unaligned is fine) */
    }
    return TLM_OK;
}
