/* timing_harness_main.c: bench/qemu_plugin/tlm_timing.c on the host, for tests/test_cycles.py.
 *
 *   timing_harness m4 < insns      one instruction a line, its halfwords in hex ("f8d1 2004");
 *                                  prints: kind size n flow cycles pair refill refill_unaligned
 *                                  (pair: the correction after the previous line's instruction)
 *   timing_harness --table         per core: "core <name>", then "<name> <value>" lines: every
 *                                  kind's cycles, refill_direct, refill_register, refill_loaded,
 *                                  refill_unaligned, refill_max, load_pipelining, agu_stall,
 *                                  it_folding, exception_entry
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlm_timing.h"

static int table(void) {
    const char *cores[] = {"m4", "m0plus"};
    unsigned c, k;
    for (c = 0; c < 2; c++) {
        const TlmTiming *t = tlm_timing(cores[c]);
        printf("core %s\n", t->name);
        for (k = 0; k < TLM_KINDS; k++) {
            printf("%s %u\n", tlm_kind_name(k), t->cycles[k]);
        }
        printf("refill_direct %u\nrefill_register %u\nrefill_loaded %u\nrefill_unaligned %u\nrefill_max %u\n",
               t->refill[TLM_FLOW_DIRECT], t->refill[TLM_FLOW_REGISTER], t->refill[TLM_FLOW_LOADED],
               t->refill_unaligned, t->refill_max);
        printf("load_pipelining %u\nagu_stall %u\nit_folding %u\nexception_entry %u\n", t->load_pipelining,
               t->agu_stall, t->it_folding, t->exception_entry);
    }
    return 0;
}

int main(int argc, char **argv) {
    char line[128];
    TlmInsn prev;
    int have_prev = 0;
    const TlmTiming *t;
    if (argc == 2 && strcmp(argv[1], "--table") == 0) {
        return table();
    }
    t = argc == 2 ? tlm_timing(argv[1]) : NULL;
    if (t == NULL) {
        fprintf(stderr, "usage: timing_harness m4|m0plus < insns, or timing_harness --table\n");
        return 2;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        unsigned hw[2] = {0, 0};
        uint8_t bytes[4];
        int n = sscanf(line, "%x %x", &hw[0], &hw[1]);
        TlmInsn in;
        if (n < 1) {
            continue;
        }
        bytes[0] = (uint8_t)hw[0];
        bytes[1] = (uint8_t)(hw[0] >> 8);
        bytes[2] = (uint8_t)hw[1];
        bytes[3] = (uint8_t)(hw[1] >> 8);
        in = tlm_decode(bytes, n == 2 ? 4u : 2u);
        printf("%s %u %u %u %u %d %u %u\n", tlm_kind_name(in.kind), in.size, in.n, in.branch, tlm_cycles(t, &in),
               have_prev ? tlm_pair(t, &prev, &in) : 0, tlm_refill(t, &in, 0), tlm_refill(t, &in, 1));
        prev = in;
        have_prev = 1;
    }
    return 0;
}
