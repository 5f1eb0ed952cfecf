/* fc_harness_main.c: a test program for the bare-metal ports (tests/test_kernels_emulated.py),
 * not product code. It runs tlm_fully_connected_s8 (whichever kernel file is linked) on the
 * calls of a generated fc_cases.c and prints each result:
 *
 *   <case> <status> <out0> <out1> ... <outC-1>\n    for every case, then "END\n"
 *
 * It waits for one byte from the host first: what a QEMU board prints before the host
 * connects is lost.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlm_kernels.h"
#include "tlm_port.h"
#include "harness_put.h"

extern const int32_t fc_case_count;
extern const TlmFullyConnected fc_cases[];
extern const int8_t *const fc_inputs[];

#define MAX_OUT 1024

static int8_t out[MAX_OUT];

static void put_int(int32_t v) { /* then a space */
    harness_put_int(v);
    tlm_port_write(" ", 1);
}

int main(void) {
    int32_t k;
    int32_t c;
    tlm_port_init();
    (void)tlm_port_getc();
    for (k = 0; k < fc_case_count; k++) {
        const TlmFullyConnected *p = &fc_cases[k];
        TlmStatus st = p->out_features <= MAX_OUT ? tlm_fully_connected_s8(p, fc_inputs[k], out) : TLM_ERR_ARG;
        put_int(k);
        put_int((int32_t)st);
        for (c = 0; st == TLM_OK && c < p->out_features; c++) {
            put_int(out[c]);
        }
        tlm_port_write("\n", 1);
    }
    tlm_port_write("END\n", 4);
    for (;;) {
        (void)tlm_port_getc();
    }
}
