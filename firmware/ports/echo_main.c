/* echo_main.c: a test application for the port layer (tests/test_ports.py), not product code.
 * It uses tlm_port.h only, so it runs unchanged on every port.
 *
 * Line protocol (lines end with \n; a \r before it is dropped):
 *   cycles [N] -> "cycles <counter> <ticks> insns <n>": the counter's source and the ticks it
 *                 advanced across 40 back-to-back runs of a busy loop of exactly 2N
 *                 instructions (N = 25000 by default), n = 40 * 2N. See measure() for why
 *                 the reading is exact and repeatable under `qemu -icount shift=0` on mps2.
 *   monotonic T [M] -> "monotonic <reads> <max step>": reads the counter back to back until
 *                 it has advanced T ticks (starting T/2 ticks before it next reaches a
 *                 multiple of M, when given), and reports the largest step between two
 *                 readings: a counter that ever went back or skipped shows as a huge step.
 *   exit N     -> tlm_port_exit(N) (QEMU exits with status N under semihosting)
 *   anything   -> "echo " + the line
 * A line longer than the buffer is answered "toolong <bytes>".
 */
#include <stddef.h>
#include <stdint.h>

#include "tlm_port.h"

#define LINE_BYTES 2048
#define REPS 40                     /* runs of the busy loop per measurement */
#define DEFAULT_ITERATIONS 25000u   /* of the busy loop: 2 instructions each */
#define MAX_ITERATIONS 10000000u    /* 800 M instructions: 2-3 s in QEMU */

static char line[LINE_BYTES];
static char out[LINE_BYTES + 8];

/* ----------------------------------------------------------------------------------------- */
/* Small helpers (no printf: the port layer is all there is)                                  */

static size_t put_str(char *dst, const char *s) {
    size_t n = 0;
    while (s[n] != '\0') {
        dst[n] = s[n];
        n++;
    }
    return n;
}

static size_t put_u32(char *dst, uint32_t v) {
    char tmp[10];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

static int starts_with(const char *s, size_t n, const char *prefix) {
    size_t i;
    for (i = 0; prefix[i] != '\0'; i++) {
        if (i >= n || s[i] != prefix[i]) {
            return 0;
        }
    }
    return 1;
}

/* Decimal integer, optional leading '-', at most 9 digits read; 0 on an empty number. */
static int parse_int(const char *s, size_t n) {
    size_t i = 0;
    int sign = 1, v = 0;
    if (i < n && s[i] == '-') {
        sign = -1;
        i++;
    }
    for (; i < n && i < 10 && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return sign * v;
}

/* Exactly 2 * iterations instructions (iterations >= 1): subs + bne per pass. Written in
 * assembly so the count does not depend on the compiler. (gcc hands Thumb-1 inline assembly
 * to the assembler in divided syntax, and switches back to unified after it, hence the
 * directive.) */
static void busy_loop(uint32_t iterations) {
    __asm__ volatile(".syntax unified\n"
                     "1:\n\t"
                     "subs %0, %0, #1\n\t"
                     "bne 1b"
                     : "+l"(iterations)
                     :
                     : "cc");
}

/* ----------------------------------------------------------------------------------------- */
/* Commands                                                                                   */

/* Ticks across REPS periods of (read the counter, run the busy loop). Every period executes
 * the same instructions (the slot written is computed without a branch), so the interval
 * from the first reading to the last is exactly REPS periods. When REPS periods are a whole
 * number of ticks, the tick count does not depend on where within a tick the first reading
 * fell: on mps2 under -icount shift=0 a tick is 40 instructions, so with REPS = 40 the
 * result is exactly the period's instruction count (2N plus the loop's own overhead), the
 * same on every run whenever the line arrives. Two N's give instructions per tick exactly:
 * (n1 - n2) / (ticks1 - ticks2). A reading that overlaps the SysTick wrap interrupt (once
 * every 2^24 ticks, 0.67 s of emulated time) can come out one tick higher. On microbit a
 * tick is 62.5 instructions, so 40 periods are not a whole number of ticks and the reading
 * varies by one tick. */
static uint32_t measure(uint32_t iterations) {
    uint32_t ends[2] = {0, 0};
    uint32_t i;
    for (i = 0; i <= REPS; i++) {
        ends[(0u - i) >> 31] = tlm_port_cycles();   /* slot 0 for i == 0, else slot 1 */
        busy_loop(iterations);
    }
    return ends[1] - ends[0];
}

static void do_cycles(const char *arg, size_t arg_len) {
    int requested = parse_int(arg, arg_len);
    uint32_t iterations = DEFAULT_ITERATIONS;
    uint32_t ticks;
    size_t n = 0;

    if (requested > 0) {
        iterations = (uint32_t)requested < MAX_ITERATIONS ? (uint32_t)requested : MAX_ITERATIONS;
    }
    ticks = measure(iterations);
    n += put_str(out + n, "cycles ");
    n += put_str(out + n, tlm_port_counter());
    out[n++] = ' ';
    n += put_u32(out + n, ticks);
    n += put_str(out + n, " insns ");
    n += put_u32(out + n, 2u * REPS * iterations);
    out[n++] = '\n';
    tlm_port_write(out, n);
}

/* Largest step between back-to-back counter readings over `span` ticks. With `modulus`
 * nonzero the dense reading starts span/2 ticks before the counter next reaches a multiple
 * of it (the host passes 2^24 to watch the SysTick wrap on mps2); the wait until then reads
 * the counter only every few thousand instructions, as dense reading is slow in QEMU. */
static void do_monotonic(const char *arg, size_t arg_len) {
    uint32_t span = (uint32_t)parse_int(arg, arg_len);
    uint32_t modulus = 0, t0, prev, reads = 0, max_step = 0;
    size_t i, n = 0;

    for (i = 0; i < arg_len && arg[i] != ' '; i++) {
    }
    if (i < arg_len) {
        modulus = (uint32_t)parse_int(arg + i + 1, arg_len - i - 1);
    }
    if (span == 0 || (modulus != 0 && span / 2 >= modulus)) {
        tlm_port_write("monotonic bad arguments\n", 24);
        return;
    }
    while (modulus != 0 && modulus - tlm_port_cycles() % modulus > span / 2) {
        busy_loop(1000);
    }
    t0 = prev = tlm_port_cycles();
    while (prev - t0 < span) {
        uint32_t t = tlm_port_cycles();
        if (t - prev > max_step) {
            max_step = t - prev;
        }
        prev = t;
        reads++;
    }
    n += put_str(out + n, "monotonic ");
    n += put_u32(out + n, reads);
    out[n++] = ' ';
    n += put_u32(out + n, max_step);
    out[n++] = '\n';
    tlm_port_write(out, n);
}

static void do_echo(size_t len) {
    size_t n = put_str(out, "echo ");
    size_t i;
    for (i = 0; i < len; i++) {
        out[n++] = line[i];
    }
    out[n++] = '\n';
    tlm_port_write(out, n);
}

static void do_too_long(uint32_t bytes) {
    size_t n = put_str(out, "toolong ");
    n += put_u32(out + n, bytes);
    out[n++] = '\n';
    tlm_port_write(out, n);
}

int main(void) {
    size_t len = 0;
    uint32_t dropped = 0;

    tlm_port_init();
    for (;;) {
        int c = tlm_port_getc();
        if (c != '\n') {
            if (len < LINE_BYTES) {
                line[len++] = (char)c;
            } else {
                dropped++;
            }
            continue;
        }
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        if (dropped != 0) {
            do_too_long((uint32_t)len + dropped);
        } else if (starts_with(line, len, "cycles") && (len == 6 || line[6] == ' ')) {
            do_cycles(line + 6 + (len > 6), len - 6 - (len > 6));
        } else if (starts_with(line, len, "monotonic ")) {
            do_monotonic(line + 10, len - 10);
        } else if (starts_with(line, len, "exit ")) {
            tlm_port_exit(parse_int(line + 5, len - 5));
        } else {
            do_echo(len);
        }
        len = 0;
        dropped = 0;
    }
}
