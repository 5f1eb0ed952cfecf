/* fc_count_main.c: a test program for the bare-metal ports (tests/test_fc_packed.py), not
 * product code. It runs tlm_fully_connected_s8 (whichever kernel file is linked) once on each
 * call of a generated fc_cases.c between the two marker functions the project's QEMU plugin
 * counts between (toolchain/target/icount.py), so each call is one interval of exact
 * instruction counts, then prints "END\n".
 *
 * It waits for one byte from the host first: what a QEMU board prints before the host
 * connects is lost.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlm_kernels.h"
#include "tlm_port.h"

extern const int32_t fc_case_count;
extern const TlmFullyConnected fc_cases[];
extern const int8_t *const fc_inputs[];

static int8_t out[1024];

/* the markers: not inlined, so the plugin sees their first instructions run */
__attribute__((noinline)) void tlm_bench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tlm_bench_end(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
    int32_t k;
    tlm_port_init();
    (void)tlm_port_getc();
    for (k = 0; k < fc_case_count; k++) {
        tlm_bench_begin();
        (void)tlm_fully_connected_s8(&fc_cases[k], fc_inputs[k], out);
        tlm_bench_end();
    }
    tlm_port_write("END\n", 4);
    for (;;) {
        (void)tlm_port_getc();
    }
}
