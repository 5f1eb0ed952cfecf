/* tlm_sample.c: the sampler of docs/sampling.md, step by step, with no scratch memory.
 *
 * The top-k set is described by a threshold instead of a sorted copy: an id is kept when its
 * logit is above the k-th largest value t, or equal to t and among the first `ties` such ids
 * (lower ids win ties, as in the reference). Weights are recomputed on each pass rather than
 * stored, so sampling needs no buffer of V entries.
 */
#include "tlm_sample.h"

#include <stddef.h>

void tlm_rng_seed(TlmRng *rng, uint32_t seed) {
    rng->state = seed != 0u ? seed : TLM_SEED_ZERO;
}

uint32_t tlm_rng_next(TlmRng *rng) {
    uint32_t x = rng->state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng->state = x;
    return x;
}

int32_t tlm_argmax_s8(const int8_t *logits, int32_t n) {
    int32_t best = 0;
    int32_t i;
    for (i = 1; i < n; i++) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    return best;
}

/* ----------------------------------------------------------------------------------------- */
/* Top-k as a threshold                                                                      */

typedef struct {
    int32_t threshold;          /* t: the k-th largest logit */
    int32_t ties;               /* how many ids with logit == t are kept, lowest ids first */
} TopK;

static int32_t count_at_least(const int8_t *q, int32_t n, int32_t v) {
    int32_t count = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        count += q[i] >= v;
    }
    return count;
}

static TopK top_k_threshold(const int8_t *q, int32_t n, int32_t k) {
    TopK t;
    int32_t lo = -128;
    int32_t hi = 127;
    if (k <= 0 || k >= n) {     /* keep all */
        t.threshold = -128;
        t.ties = n;
        return t;
    }
    /* the largest v with at least k logits >= v: 8 counting passes, no sort */
    while (lo < hi) {
        const int32_t mid = lo + (hi - lo + 1) / 2;
        if (count_at_least(q, n, mid) >= k) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    t.threshold = lo;
    t.ties = k - (lo < 127 ? count_at_least(q, n, lo + 1) : 0);
    return t;
}

/* Is id i kept? Call for i = 0, 1, 2, ... in order; *seen counts the ties met so far. */
static int kept(const TopK *t, int32_t q, int32_t *seen) {
    if (q > t->threshold) {
        return 1;
    }
    if (q == t->threshold && *seen < t->ties) {
        *seen += 1;
        return 1;
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Sampling                                                                                  */

/* 2^16 * 2^(-(m - q) * step / 2^16), from the table: 0 once the exponent reaches 17. */
static uint32_t weight(const TlmSampler *s, int32_t m, int32_t q, int64_t step) {
    const int64_t e = (int64_t)(m - q) * step;     /* Q16 base-2 exponent, >= 0 */
    const int64_t ip = e >> 16;
    if (ip >= 17) {
        return 0u;
    }
    return s->pow2_frac_q16[(e >> 8) & 0xFF] >> ip;
}

int32_t tlm_sample_s8(const TlmSampler *s, const int8_t *logits, int32_t n, TlmRng *rng) {
    TopK t;
    int64_t step;
    int32_t m;
    int32_t i;
    int32_t seen;
    uint32_t total = 0u;
    uint32_t r;
    uint32_t acc = 0u;
    if (s->temp_milli <= 0) {
        return tlm_argmax_s8(logits, n);
    }
    t = top_k_threshold(logits, n, s->top_k);
    m = logits[tlm_argmax_s8(logits, n)];  /* the largest logit is always kept */
    step = s->logit_k / s->temp_milli;
    seen = 0;
    for (i = 0; i < n; i++) {
        if (kept(&t, logits[i], &seen)) {
            total += weight(s, m, logits[i], step);
        }
    }
    r = (uint32_t)(((uint64_t)tlm_rng_next(rng) * (uint64_t)total) >> 32);
    seen = 0;
    for (i = 0; i < n; i++) {
        if (kept(&t, logits[i], &seen)) {
            acc += weight(s, m, logits[i], step);
            if (r < acc) {
                return i;
            }
        }
    }
    return n - 1;  /* unreachable: r < total */
}
