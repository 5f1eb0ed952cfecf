/* main.c: the host port, a native program `tlm` over the generated model.
 *
 *   tlm --selftest        run the embedded golden vectors (TFLM's outputs) through the runtime
 *   tlm --generate --prompt TEXT [--tokens N] [--seed S] [--temperature T] [--top-k K]
 *                         print N generated tokens' text (docs/sampling.md)
 *   tlm --logits          for each stdin line of K ids, print the V int8 logits; a step model
 *                         (docs/state.md): each line is a sequence run from the zero state
 *                         (the first id replaces the <pad> start), one line of logits per id
 *   tlm --bench N         run N steps and print steps per second
 *   tlm --info            print the model's sizes and hash
 *   tlm --serve [--rx-max N]
 *                         speak the serial protocol (docs/protocol.md) on stdin/stdout; with
 *                         --rx-max, lose input as a UART with an N-byte receive buffer does
 *                         (port_host.c) and report rx_max=N in INFO
 *
 * Exit codes: 0 ok, 1 a selftest mismatch or runtime failure, 2 bad usage or input.
 */
#define _POSIX_C_SOURCE 199309L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "golden_data.h"
#include "model_data.h"
#include "port_host.h"
#include "tlm_config.h"
#include "tlm_port.h"
#include "tlm_protocol.h"
#include "tlm_runtime.h"

/* The arena: static, sized by the generator, word-aligned through the element type. */
static uint32_t arena_words[(TLM_ARENA_BYTES + 3) / 4];

#define LINE_MAX_BYTES 65536

/* ----------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

static int usage(const char *why) {
    fprintf(stderr, "tlm: %s\n", why);
    fprintf(stderr, "usage: tlm --selftest | --info | --logits | --bench N | --serve [--rx-max N] |\n"
                    "       --generate --prompt TEXT [--tokens N] [--seed S] [--temperature T] [--top-k K]\n");
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return 0;
    }
    *out = v;
    return 1;
}

/* The options that take a whole number: its range, and what usage() says when the value is
 * not a number in it. */
enum { OPT_BENCH, OPT_TOKENS, OPT_SEED, OPT_TOP_K, OPT_RX_MAX, N_NUMBER_OPTIONS };

typedef struct {
    const char *name;
    long lo;
    long hi;
    const char *why;
} NumberOption;

static const NumberOption number_options[N_NUMBER_OPTIONS] = {
    [OPT_BENCH] = {"--bench", 1, 1000000000L, "--bench: expected a number of steps from 1"},
    [OPT_TOKENS] = {"--tokens", 0, 100000000L, "--tokens: expected a number from 0"},
    [OPT_SEED] = {"--seed", 0, 4294967295L, "--seed: expected a number from 0 to 4294967295"},
    [OPT_TOP_K] = {"--top-k", 0, 1000000L, "--top-k: expected a number from 0 (all)"},
    [OPT_RX_MAX] = {"--rx-max", 0, 4096, "--rx-max: expected a number of bytes from 0 (lose nothing) to 4096"},
};

/* The number option `a` names (OPT_*), or -1. */
static int number_option(const char *a) {
    int k;
    for (k = 0; k < N_NUMBER_OPTIONS; k++) {
        if (strcmp(a, number_options[k].name) == 0) {
            return k;
        }
    }
    return -1;
}

static int fail(const char *what, TlmStatus status) {
    fprintf(stderr, "tlm: %s: %s\n", what, tlm_status_text(status));
    return 1;
}

/* ----------------------------------------------------------------------------------------- */
/* --selftest                                                                                */

/* 0 if the logits equal the golden row, else 1 after saying where they differ (a step
 * model's rows also name the step; step < 0 for a window model). */
static int compare_row(const int8_t *got, const int8_t *want, long vector, long step) {
    int32_t i;
    for (i = 0; i < TLM_VOCAB; i++) {
        if (got[i] != want[i]) {
            if (step >= 0) {
                printf("selftest: vector %ld step %ld differs at byte %ld: got %d, want %d\n", vector, step, (long)i,
                       (int)got[i], (int)want[i]);
            } else {
                printf("selftest: vector %ld differs at byte %ld: got %d, want %d\n", vector, (long)i, (int)got[i],
                       (int)want[i]);
            }
            return 1;
        }
    }
    return 0;
}

/* Window model: each vector is K ids and one row of logits. Step model: each vector is a
 * sequence of tlm_golden_len ids run from the zero state, one row of logits per id. */
static int run_selftest(Tlm *tlm) {
    const int32_t len = tlm_golden_len;
    const int steps = tlm_model.n_states > 0;
    int32_t v;
    int32_t t;
    for (v = 0; v < tlm_golden_count; v++) {
        const int32_t *ids = tlm_golden_inputs + (size_t)v * (size_t)len;
        for (t = 0; t < (steps ? len : 1); t++) {
            const int8_t *logits = NULL;
            const int8_t *want = tlm_golden_outputs + ((size_t)v * (size_t)(steps ? len : 1) + (size_t)t) * TLM_VOCAB;
            TlmStatus status = TLM_OK;
            int32_t i;
            if (steps) {
                status = t == 0 ? tlm_restart(tlm, ids[0]) : tlm_push(tlm, ids[t]);
            } else {
                for (i = 0; i < len && status == TLM_OK; i++) {
                    status = tlm_push(tlm, ids[i]);
                }
            }
            if (status == TLM_OK) {
                status = tlm_step(tlm, &logits);
            }
            if (status != TLM_OK) {
                printf("selftest: vector %ld fails at id %ld: %s\n", (long)v, (long)t, tlm_status_text(status));
                return 1;
            }
            if (compare_row(logits, want, (long)v, steps ? (long)t : -1L) != 0) {
                return 1;
            }
        }
    }
    if (steps) {
        printf("selftest: %ld/%ld vectors equal (%ld steps)\n", (long)tlm_golden_count, (long)tlm_golden_count,
               (long)tlm_golden_count * (long)len);
    } else {
        printf("selftest: %ld/%ld vectors equal\n", (long)tlm_golden_count, (long)tlm_golden_count);
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* --logits                                                                                  */

static void print_logits(const int8_t *logits) {
    int32_t i;
    for (i = 0; i < TLM_VOCAB; i++) {
        printf(i + 1 < TLM_VOCAB ? "%d " : "%d\n", (int)logits[i]);
    }
}

/* The ids of one line (at most `max`); their count, or -1 (and a message) for bad input. */
static long parse_ids(const char *line, long line_no, int32_t *ids, long max) {
    const char *at = line;
    long n = 0;
    for (;;) {
        char *end = NULL;
        long id;
        errno = 0;
        id = strtol(at, &end, 10);
        if (end == at) {
            break;
        }
        if (n >= max) {
            fprintf(stderr, "tlm: line %ld: more than %ld ids\n", line_no, max);
            return -1;
        }
        if (errno != 0 || id < 0 || id >= TLM_VOCAB) {
            fprintf(stderr, "tlm: line %ld: id %ld: %s (0..%d)\n", line_no, id, tlm_status_text(TLM_ERR_TOKEN),
                    TLM_VOCAB - 1);
            return -1;
        }
        ids[n++] = (int32_t)id;
        at = end;
    }
    while (*at == ' ' || *at == '\t' || *at == '\r' || *at == '\n') {
        at++;
    }
    if (*at != '\0') {
        fprintf(stderr, "tlm: line %ld: expected space-separated ids\n", line_no);
        return -1;
    }
    return n;
}

static int run_logits(Tlm *tlm) {
    static char line[LINE_MAX_BYTES];
    static int32_t ids[LINE_MAX_BYTES / 2];
    const int steps = tlm_model.n_states > 0;
    long line_no = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        const int8_t *logits = NULL;
        long n;
        long i;
        TlmStatus status = TLM_OK;
        line_no++;
        n = parse_ids(line, line_no, ids, steps ? (long)(sizeof ids / sizeof ids[0]) : (long)TLM_CONTEXT);
        if (n < 0) {
            return 2;
        }
        if (steps ? n < 1 : n != TLM_CONTEXT) {
            if (steps) {
                fprintf(stderr, "tlm: line %ld: expected a sequence of 1 or more space-separated ids\n", line_no);
            } else {
                fprintf(stderr, "tlm: line %ld: expected %d space-separated ids\n", line_no, TLM_CONTEXT);
            }
            return 2;
        }
        for (i = 0; i < n && status == TLM_OK; i++) {
            if (steps) {  /* one row of logits per id */
                status = i == 0 ? tlm_restart(tlm, ids[0]) : tlm_push(tlm, ids[i]);
                if (status == TLM_OK) {
                    status = tlm_step(tlm, &logits);
                }
                if (status == TLM_OK) {
                    print_logits(logits);
                }
            } else {
                status = tlm_push(tlm, ids[i]);
            }
        }
        if (status == TLM_OK && !steps) {
            status = tlm_step(tlm, &logits);
            if (status == TLM_OK) {
                print_logits(logits);
            }
        }
        if (status != TLM_OK) {
            return fail("step", status);
        }
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* --generate                                                                                */

static int print_token(int32_t id, void *user) {
    size_t len = 0;
    const uint8_t *text = tlm_token_text(&tlm_model, id, &len);
    (void)user;
    fwrite(text, 1, len, stdout);
    return 0;
}

static int run_generate(Tlm *tlm, const char *prompt, const TlmGenerate *opts) {
    TlmStatus status = tlm_push_text(tlm, prompt, strlen(prompt), NULL);
    if (status != TLM_OK) {
        return fail("prompt", status);
    }
    status = tlm_generate(tlm, opts, print_token, NULL);
    printf("\n");
    if (status != TLM_OK) {
        return fail("generate", status);
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* --bench                                                                                   */

static int run_bench(Tlm *tlm, long steps) {
    struct timespec t0;
    struct timespec t1;
    double seconds;
    long i;
    const int8_t *logits = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < steps; i++) {
        TlmStatus status = tlm_step(tlm, &logits);
        if (status != TLM_OK) {
            return fail("step", status);
        }
        /* feed the greedy choice back, as generation does */
        tlm_push(tlm, tlm_argmax_s8(logits, TLM_VOCAB));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("bench: %ld steps in %.6f s: %.1f steps/s\n", steps, seconds, seconds > 0 ? (double)steps / seconds : 0.0);
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* --serve                                                                                   */

static int run_serve(Tlm *tlm, long rx_max) {
    static TlmProtocol proto;   /* holds the line buffer: static, not on the stack */
    static const TlmDeviceInfo info = {TLM_BOARD, 0, 0};
    tlm_host_set_rx_max((uint32_t)rx_max);
    tlm_port_init();
    tlm_protocol_init(&proto, tlm, &info);
    for (;;) {
        int c = tlm_port_getc();   /* exits the program at end of input */
        tlm_protocol_feed(&proto, c);
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    Tlm tlm;
    TlmGenerate gen;
    const char *mode = NULL;
    const char *prompt = "";
    long value = 0;
    long bench_steps = 0;
    long rx_max = 0;
    int i;
    TlmStatus status;

    gen.n_tokens = 100;
    gen.seed = 1;
    gen.temp_milli = 0;
    gen.top_k = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        const int number = next != NULL ? number_option(a) : -1;
        if (strcmp(a, "--selftest") == 0 || strcmp(a, "--generate") == 0 || strcmp(a, "--logits") == 0 ||
            strcmp(a, "--info") == 0 || strcmp(a, "--serve") == 0) {
            mode = a;
        } else if (number >= 0) {
            const NumberOption *o = &number_options[number];
            if (!parse_long(next, o->lo, o->hi, &value)) {
                return usage(o->why);
            }
            switch (number) {
            case OPT_BENCH: mode = a; bench_steps = value; break;
            case OPT_TOKENS: gen.n_tokens = (int32_t)value; break;
            case OPT_SEED: gen.seed = (uint32_t)value; break;
            case OPT_RX_MAX: rx_max = value; break;
            default: gen.top_k = (int32_t)value; break;     /* OPT_TOP_K */
            }
            i++;
        } else if (strcmp(a, "--prompt") == 0 && next != NULL) {
            prompt = next;
            i++;
        } else if (strcmp(a, "--temperature") == 0 && next != NULL) {
            char *end = NULL;
            const double t = strtod(next, &end);
            if (end == next || *end != '\0' || !(t >= 0.0) || t > 1000.0) {
                return usage("--temperature: expected a number from 0 (greedy) to 1000");
            }
            gen.temp_milli = (int32_t)(t * 1000.0 + 0.5);  /* thousandths, as the host does */
            i++;
        } else {
            return usage("unknown or incomplete option");
        }
    }
    if (mode == NULL) {
        return usage("no mode given");
    }
    status = tlm_init(&tlm, &tlm_model, arena_words, sizeof arena_words);
    if (status != TLM_OK) {
        return fail("init", status);
    }
    if (strcmp(mode, "--selftest") == 0) {
        return run_selftest(&tlm);
    }
    if (strcmp(mode, "--logits") == 0) {
        return run_logits(&tlm);
    }
    if (strcmp(mode, "--generate") == 0) {
        return run_generate(&tlm, prompt, &gen);
    }
    if (strcmp(mode, "--bench") == 0) {
        return run_bench(&tlm, bench_steps);
    }
    if (strcmp(mode, "--serve") == 0) {
        return run_serve(&tlm, rx_max);
    }
    printf("model %s: vocab %d, context %d, arena %d bytes, board %s\n", TLM_MODEL_HASH, TLM_VOCAB, TLM_CONTEXT,
           TLM_ARENA_BYTES, TLM_BOARD);
    return 0;
}
