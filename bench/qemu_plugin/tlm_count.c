/* tlm_count.c: a QEMU TCG plugin that counts executed guest instructions exactly, per
 * function, between two marker functions of the firmware.
 *
 *   qemu-system-arm ... -icount shift=0 \
 *       -plugin bench/qemu_plugin/tlm_count.so,syms=fw.syms,begin=0x1234,end=0x1240,out=counts.txt
 *
 *   syms   text file, one function a line: "<start hex> <end hex> <name>", [start, end)
 *   begin  address of the first instruction of the marker that opens an interval
 *   end    address of the first instruction of the marker that closes it
 *   out    where each closed interval is appended:
 *              interval <k> <instructions>
 *              fn <name> <instructions>        (each function that ran, exclusive counts)
 *              pc <address hex> <executions>   (with profile=NAME: each instruction of NAME)
 *   profile  optional: a function whose instructions are also counted one by one
 *
 * Every translated instruction gets an inline `counter += 1` (generated code, no call) on
 * the counter of the function holding it (or "(other)"), so counts are exact and running
 * stays fast; the markers' first instructions get a callback that snapshots the counters.
 * Under -icount shift=0 the firmware's SysTick counts the same instructions (40 per tick on
 * mps2), which bench/device.py checks.
 *
 * Build: gcc -shared -fPIC -O2 -o tlm_count.so tlm_count.c (toolchain/target/icount.py does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlm_qemu_plugin.h"

TLM_PLUGIN_EXPORT int qemu_plugin_version = TLM_QEMU_PLUGIN_API;

#define MAX_FUNCS 8192
#define NAME_MAX_LEN 96

typedef struct {
    uint64_t start;
    uint64_t end;
    char name[NAME_MAX_LEN];
} Func;

static Func funcs[MAX_FUNCS];
static size_t n_funcs;
static uint64_t counts[MAX_FUNCS + 1];     /* [n_funcs]: instructions outside every function */
static uint64_t base[MAX_FUNCS + 1];       /* the counts when the open interval began */
static uint64_t begin_addr = UINT64_MAX;
static uint64_t end_addr = UINT64_MAX;
static int open_interval;
static unsigned intervals;
static FILE *out;
static char profile_name[NAME_MAX_LEN];
static uint64_t profile_start, profile_end;   /* [start, end) of the profiled function */
static uint64_t *profile, *profile_base;      /* one counter per halfword of it */

static int by_start(const void *a, const void *b) {
    const Func *fa = a, *fb = b;
    return fa->start < fb->start ? -1 : fa->start > fb->start;
}

static int load_syms(const char *path) {
    char line[256];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (n_funcs < MAX_FUNCS && fgets(line, sizeof line, f) != NULL) {
        Func *fn = &funcs[n_funcs];
        if (sscanf(line, "%" SCNx64 " %" SCNx64 " %95s", &fn->start, &fn->end, fn->name) == 3 && fn->end > fn->start) {
            n_funcs++;
        }
    }
    fclose(f);
    qsort(funcs, n_funcs, sizeof funcs[0], by_start);
    return 0;
}

/* The counter of the function holding `addr`: binary search over the sorted starts. */
static uint64_t *counter_for(uint64_t addr) {
    size_t lo = 0, hi = n_funcs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (funcs[mid].start <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo > 0 && addr < funcs[lo - 1].end) {
        return &counts[lo - 1];
    }
    return &counts[n_funcs];
}

static void on_begin(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    memcpy(base, counts, sizeof(uint64_t) * (n_funcs + 1));
    if (profile != NULL) {
        memcpy(profile_base, profile, sizeof(uint64_t) * (size_t)((profile_end - profile_start) / 2));
    }
    open_interval = 1;
}

static void on_end(unsigned int vcpu, void *udata) {
    uint64_t total = 0;
    size_t i;
    (void)vcpu;
    (void)udata;
    if (!open_interval || out == NULL) {
        return;
    }
    open_interval = 0;
    for (i = 0; i <= n_funcs; i++) {
        total += counts[i] - base[i];
    }
    fprintf(out, "interval %u %" PRIu64 "\n", intervals++, total);
    for (i = 0; i <= n_funcs; i++) {
        if (counts[i] != base[i]) {
            fprintf(out, "fn %s %" PRIu64 "\n", i < n_funcs ? funcs[i].name : "(other)", counts[i] - base[i]);
        }
    }
    for (i = 0; profile != NULL && i < (size_t)((profile_end - profile_start) / 2); i++) {
        if (profile[i] != profile_base[i]) {
            fprintf(out, "pc %" PRIx64 " %" PRIu64 "\n", profile_start + 2 * i, profile[i] - profile_base[i]);
        }
    }
    fflush(out);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t addr = qemu_plugin_insn_vaddr(insn);
        if (addr == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (addr == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter_for(addr), 1);
        if (profile != NULL && addr >= profile_start && addr < profile_end) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &profile[(addr - profile_start) / 2], 1);
        }
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    if (out != NULL) {
        fclose(out);
        out = NULL;
    }
}

TLM_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    int i;
    if (info->version.cur < TLM_QEMU_PLUGIN_API || info->version.min > TLM_QEMU_PLUGIN_API) {
        qemu_plugin_outs("tlm_count: this QEMU does not serve plugin API version 1\n");
        return -1;
    }
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "syms=", 5) == 0) {
            if (load_syms(a + 5) != 0) {
                qemu_plugin_outs("tlm_count: cannot read the syms file\n");
                return -1;
            }
        } else if (strncmp(a, "begin=", 6) == 0) {
            begin_addr = strtoull(a + 6, NULL, 0) & ~(uint64_t)1;   /* Thumb bit off */
        } else if (strncmp(a, "end=", 4) == 0) {
            end_addr = strtoull(a + 4, NULL, 0) & ~(uint64_t)1;
        } else if (strncmp(a, "out=", 4) == 0) {
            out = fopen(a + 4, "w");
            if (out == NULL) {
                qemu_plugin_outs("tlm_count: cannot write the out file\n");
                return -1;
            }
        } else if (strncmp(a, "profile=", 8) == 0) {
            snprintf(profile_name, sizeof profile_name, "%s", a + 8);
        } else {
            qemu_plugin_outs("tlm_count: unknown argument (syms=, begin=, end=, out=, profile=)\n");
            return -1;
        }
    }
    for (i = 0; profile_name[0] != '\0' && i < (int)n_funcs; i++) {
        if (strcmp(funcs[i].name, profile_name) == 0) {
            const size_t n = (size_t)((funcs[i].end - funcs[i].start) / 2);
            profile_start = funcs[i].start;
            profile_end = funcs[i].end;
            profile = calloc(n, sizeof *profile);
            profile_base = calloc(n, sizeof *profile_base);
            if (profile == NULL || profile_base == NULL) {
                return -1;
            }
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
