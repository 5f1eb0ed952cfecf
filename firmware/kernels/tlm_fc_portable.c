/* tlm_fc_portable.c: FULLY_CONNECTED over packed weights in C (the `optimized` kernel set on
 * cores without the DSP extension: Cortex-M0+, and the host), with its inner loop and rescale
 * in assembly on ARMv6-M (Cortex-M0/M0+), where GCC 12 spills them.
 *
 * The generator did the work that does not depend on the input: the input offset is folded
 * into the bias (sum_d w*(x + off) = dot(w, x) + off*sum(w)), and the rows are interleaved
 * four by four (TLM_FC_PACKED4, tlm_kernels.h), so each input byte loaded serves four rows and
 * the inner loop runs over one contiguous stream of weights.
 *
 * The stream is laid out for kernels/tlm_fc_dsp.c: in each row's word of a group, bytes 0 and
 * 2 are w[4g+1] ^ 0x80 and w[4g+3] ^ 0x80, bytes 1 and 3 are w[4g] and w[4g+2]. Read unsigned,
 * the flipped bytes are w + 128, and the sum that kernel computes, which the folded bias
 * expects, is
 *
 *   sum_g  (w1 + 128) x1 + w0 (x0 - 128) + (w3 + 128) x3 + w2 (x2 - 128)
 *        = dot + 128 (x1 + x3) - 128 (w0 + w2)
 *
 * (the bias holds +128 (w0 + w2), the layer's x_term -128 (x1 + x3)), so here the unsigned
 * bytes multiply x1, x3 and the signed ones x0 - 128, x2 - 128: the four inputs of a group are
 * loaded and adjusted once for the block's four rows. On Cortex-M0+ an unsigned byte load takes
 * an immediate offset and a signed one does not (LDRSB has register offsets only), so the
 * layout costs this kernel nothing. Counted on the emulated Cortex-M0 (microbit, -Os, the QEMU
 * plugin): 4.7 instructions per MAC on a 384->256 layer to 5.65 on a 64->128 one (9.3-10.2
 * before), 72 per group of 16 MACs and ~75 per output row; per model 4.75-5.2
 * (bench/device.py --models --m0).
 */
#include "tlm_fc_common.h"

/* -128 * (sum of x[4g+1] + x[4g+3]) over the groups: the part of every row's sum that the
 * kernel subtracts itself (see the top). Once per layer. */
static uint32_t fc_odd_term(int32_t in_features, const int8_t *input) {
    const int8_t *x = input;
    const int8_t *const x_end = input + (in_features & ~3);
    uint32_t odd = 0u;
    for (; x != x_end; x += 4) {
        odd += (uint32_t)(x[1] + x[3]);
    }
    return 0u - 128u * odd;
}

#if defined(__ARM_ARCH_6M__)
/* Cortex-M0/M0+ (ARMv6-M): GCC 12 keeps the four sums and the group's inputs on the stack here
 * (89 instructions a group of 16 MACs at -Os, O2 no better), so the group loop is written
 * out: 72 a group. The inputs in r0-r3 once per group for the four rows (13; the input pointer
 * waits in ip, since with r0-r5 taken and the weights' pointer in r6 only r7 is left, the frame
 * pointer at -O0), per row an LDR of its word for the two signed bytes (shifted out: LDRSB has
 * only register offsets), LDRB for the two unsigned ones, four MULS and four ADDs into the sums,
 * which live in r8-r11 (14). MULS keeps its result in the weight's register, so the inputs stay. */
#define FC_ROW_V6M(k, s)                                                                 \
    "ldr    r4, [%[w], #(4 * " #k ")]\n\t"                                               \
    "ldrb   r5, [%[w], #(4 * " #k ")]\n\t"     /* w1 + 128 */                            \
    "muls   r5, r1, r5\n\t"                                                              \
    "add    %[" s "], r5\n\t"                                                            \
    "lsls   r5, r4, #16\n\t"                                                             \
    "asrs   r5, r5, #24\n\t"                   /* w0 */                                  \
    "muls   r5, r0, r5\n\t"                                                              \
    "add    %[" s "], r5\n\t"                                                            \
    "ldrb   r5, [%[w], #(4 * " #k " + 2)]\n\t" /* w3 + 128 */                            \
    "muls   r5, r3, r5\n\t"                                                              \
    "add    %[" s "], r5\n\t"                                                            \
    "asrs   r4, r4, #24\n\t"                   /* w2 */                                  \
    "muls   r4, r2, r4\n\t"                                                              \
    "add    %[" s "], r4\n\t"

/* The block's groups: sums added to s[0..3], x and w advanced to x_end and past the groups. */
FC_INLINE void fc_groups(const int8_t **wp, const int8_t **xp, const int8_t *x_end, uint32_t s[4]) {
    const int8_t *w = *wp;
    const int8_t *x = *xp;
    /* named high registers: GCC 12 refuses several "+h" operands in one asm */
    register uint32_t s0 __asm__("r8") = s[0];
    register uint32_t s1 __asm__("r9") = s[1];
    register uint32_t s2 __asm__("r10") = s[2];
    register uint32_t s3 __asm__("r11") = s[3];
    register const int8_t *xr __asm__("ip") = x;
    register const int8_t *const end __asm__("lr") = x_end;
    if (x != x_end) {
        __asm__ volatile(
            ".syntax unified\n"     /* GCC 12 hands Thumb-1 asm over in divided syntax (and
                                        switches back to unified after it by itself) */
            "1:\n\t"
            "mov    r4, %[x]\n\t"
            "ldrb   r0, [r4, #0]\n\t"
            "ldrb   r1, [r4, #1]\n\t"
            "ldrb   r2, [r4, #2]\n\t"
            "ldrb   r3, [r4, #3]\n\t"
            "sxtb   r0, r0\n\t"
            "sxtb   r1, r1\n\t"
            "sxtb   r2, r2\n\t"
            "sxtb   r3, r3\n\t"
            "subs   r0, #128\n\t"                  /* x0 - 128 */
            "subs   r2, #128\n\t"                  /* x2 - 128 */
            "adds   r4, #4\n\t"
            "mov    %[x], r4\n\t"
            FC_ROW_V6M(0, "s0") FC_ROW_V6M(1, "s1") FC_ROW_V6M(2, "s2") FC_ROW_V6M(3, "s3")
            "adds   %[w], #16\n\t"
            "cmp    %[x], %[x_end]\n\t"
            "bne    1b\n\t"
            : [w] "+l"(w), [x] "+r"(xr), [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3)
            : [x_end] "r"(end)
            : "r0", "r1", "r2", "r3", "r4", "r5", "cc", "memory");
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    *wp = w;
    *xp = xr;
}

/* fc_rescale_down (tlm_fc_common.h), whose 32x32->64 multiply ARMv6-M lacks (libgcc's
 * __muldi3 and the 64-bit additions around it are ~60 instructions a row, the same 16-bit
 * arithmetic in C ~50: GCC spills it). The same 64-bit sum from 16-bit halves, 27
 * instructions: acc = ah 2^16 + al (ah signed), m = mh 2^16 + ml (m < 2^31), acc m = ah mh
 * 2^32 + (ah ml + al mh) 2^16 + al ml, each product exact in 32 bits, added to the record's
 * rounding constant by ADDS/ADCS. The rounding's -[acc < 0] 2^31 joins ah ml as -2^15
 * (ah ml - 2^15 >= -2^31 still fits). */
FC_INLINE int32_t fc_rescale_row(int32_t acc, const TlmFcRow *row) {
    int32_t hi;
    __asm__(".syntax unified\n\t"
            "ldr    r0, [%[row], #4]\n\t"          /* m */
            "uxth   r1, %[acc]\n\t"                /* al */
            "uxth   r2, r0\n\t"                    /* ml */
            "lsrs   r0, r0, #16\n\t"               /* mh */
            "asrs   r3, %[acc], #16\n\t"           /* ah */
            "movs   %[acc], r1\n\t"
            "muls   %[acc], r2, %[acc]\n\t"        /* al ml */
            "muls   r1, r0, r1\n\t"                /* al mh */
            "muls   r0, r3, r0\n\t"                /* ah mh */
            "muls   r2, r3, r2\n\t"                /* ah ml */
            "asrs   r3, r3, #31\n\t"
            "lsls   r3, r3, #15\n\t"
            "adds   r2, r2, r3\n\t"                /* ah ml - [acc < 0] 2^15 */
            "ldr    r3, [%[row], #12]\n\t"         /* round_lo */
            "ldr    %[hi], [%[row], #16]\n\t"      /* round_hi */
            "adds   %[acc], %[acc], r3\n\t"
            "adcs   %[hi], r0\n\t"
            "lsls   r3, r2, #16\n\t"
            "asrs   r2, r2, #16\n\t"
            "adds   %[acc], %[acc], r3\n\t"
            "adcs   %[hi], r2\n\t"
            "lsls   r3, r1, #16\n\t"
            "lsrs   r1, r1, #16\n\t"
            "adds   %[acc], %[acc], r3\n\t"
            "adcs   %[hi], r1\n\t"
            "ldr    r3, [%[row], #8]\n\t"          /* not_shift */
            "asrs   %[hi], r3\n\t"
            : [hi] "=&l"(hi), [acc] "+l"(acc)
            : [row] "l"(row)
            : "r0", "r1", "r2", "r3", "cc", "memory");
    return hi;
}
#else
/* The block's groups in C: sums added to s[0..3], x and w advanced to x_end and past the
 * groups. The unsigned bytes multiply x1, x3, the signed ones x0 - 128, x2 - 128. */
FC_INLINE void fc_groups(const int8_t **wp, const int8_t **xp, const int8_t *x_end, uint32_t s[4]) {
    const int8_t *w = *wp;
    const int8_t *x = *xp;
    for (; x != x_end; x += 4, w += 16) {
        const int32_t x0 = x[0] - 128, x1 = x[1], x2 = x[2] - 128, x3 = x[3];
        const uint8_t *const u = (const uint8_t *)w;   /* the flipped bytes, read as w + 128 */
        int32_t r;
        for (r = 0; r < 4; r++) {
            s[r] += (uint32_t)(u[4 * r] * x1 + w[4 * r + 1] * x0 + u[4 * r + 2] * x3 + w[4 * r + 3] * x2);
        }
    }
    *wp = w;
    *xp = x;
}

#define fc_rescale_row fc_rescale_down
#endif

/* output[r] from row r's sum: bias, rescale, output zero point, clamp */
FC_INLINE void fc_out_row(const FcLayer *o, const TlmFcRow *row, uint32_t sum, int8_t *output) {
    const int32_t acc = (int32_t)((uint32_t)row->bias + sum);  /* wraps as TFLM's int32 */
    int32_t out = row->not_shift >= 0 ? fc_rescale_row(acc, row) : fc_rescale(acc, row->multiplier, ~row->not_shift);
    out += o->output_offset;
    out = out < o->act_min ? o->act_min : out;
    out = out > o->act_max ? o->act_max : out;
    *output = (int8_t)out;
}

/* by far the most time of a step is spent in this function */
TlmStatus tlm_fully_connected_s8(const TlmFullyConnected *p, const int8_t *input, int8_t *output) {
    FcLayer l;
    const TlmStatus status = fc_begin(p, input, output, &l);
    const int8_t *x_end;    /* the end of the groups */
    int32_t tail;           /* columns after the groups */
    const int8_t *w;
    int32_t c;
    if (status != TLM_OK) {
        return status;
    }
    l.x_term += fc_odd_term(p->in_features, input);
    x_end = input + (p->in_features & ~3);
    tail = p->in_features % 4;
    w = p->weights;
    for (c = 0; c < l.out_features; c += 4) {
        /* the rows' sums from x_term on, mod 2^32 as TFLM's int32 accumulator (unsigned:
         * defined wrapping) */
        uint32_t sum[4];
        const int8_t *x = input;
        int32_t r;
        sum[0] = l.x_term;  /* not an initializer: gcc -Os makes that a memset call */
        sum[1] = l.x_term;
        sum[2] = l.x_term;
        sum[3] = l.x_term;
        fc_groups(&w, &x, x_end, sum);
        if (tail != 0) {
            for (r = 0; r < 4; r++) {
                int32_t t;
                for (t = 0; t < tail; t++, w++) {
                    sum[r] += (uint32_t)(w[0] * x[t]);
                }
            }
        }
        for (r = 0; r < 4 && c + r < l.out_features; r++) {
            fc_out_row(&l, &l.rows[c + r], sum[r], output + c + r);
        }
    }
    return TLM_OK;
}
