/* tlm_count.c: a QEMU TCG plugin that counts executed guest instructions exactly, per
 * function, between two marker functions of the firmware, and (with core=) estimates the cycles
 * a Cortex-M4 or Cortex-M0+ would spend on them.
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
 *              cycles <k> <cycles>             (with core=: the estimate of the interval)
 *              cfn <name> <cycles>             (with core=: each function's share)
 *   profile  optional: a function whose instructions are also counted one by one
 *   core     optional: m4 | m0plus, the timing table of tlm_timing.c to estimate cycles with
 *   flash_ws, flash_line, flash_lines   optional (with core=): data reads below 0x20000000 (the
 *            Code region, flash on the real boards) that miss the last flash_lines lines of
 *            flash_line bytes read cost flash_ws more cycles (docs/runtime.md, "Cycle estimates")
 *
 * Every translated instruction gets an inline `counter += 1` (generated code, no call) on
 * the counter of the function holding it (or "(other)"), so counts are exact and running
 * stays fast; the markers' first instructions get a callback that snapshots the counters.
 * Under -icount shift=0 the firmware's SysTick counts the same instructions (40 per tick on
 * mps2), which bench/device.py checks.
 *
 * Cycles: at translation time each instruction is decoded from its bytes (tlm_timing.c) and
 * gets an inline `cycles += cost` (its table entry, corrected for its predecessor in the same
 * block); a callback at the start of every translation block compares the block's address with
 * where the previous block would fall through: a different address after a branch is a taken
 * branch (its pipeline refill is added), the same address is straight-line code (the pair rule
 * applies across the boundary). QEMU ends a block at every branch, so that sees every one.
 *
 * Build: gcc -shared -fPIC -O2 -o tlm_count.so tlm_count.c tlm_timing.c (icount.py does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlm_qemu_plugin.h"
#include "tlm_timing.h"

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

/* ---- cycle estimate (core=) ---- */
static const TlmTiming *timing;                /* NULL: instructions only */
static uint64_t cycles[MAX_FUNCS + 1];         /* per function, like counts[] */
static uint64_t cycles_base[MAX_FUNCS + 1];
static uint64_t retired, retired_at_block;     /* instructions run, and when the last block began */

/* What the block-start callback needs of a translation block. */
typedef struct Block {
    uint64_t start, next;          /* its first instruction, and the address after its last */
    uint64_t n;                    /* instructions in it */
    TlmInsn first, last;
    uint64_t *first_cycles;        /* cycle counters of the functions holding first and last */
    uint64_t *last_cycles;
    int first_unaligned;           /* the first instruction is 32-bit at an address 2 mod 4 */
    struct Block *older;           /* every block translated, freed at exit */
} Block;
static Block *blocks;
static const Block *last_block;

/* ---- flash model (flash_ws=) ---- */
#define FLASH_END 0x20000000u      /* Code region: 0x00000000..0x1FFFFFFF */
#define MAX_FLASH_LINES 64
static unsigned flash_ws, flash_line = 16, flash_lines;
static uint64_t flash_tags[MAX_FLASH_LINES];   /* most recently read first */
static unsigned flash_used;

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

/* Run time, at the start of every block: the refill of a taken branch, the pair rule across a
 * fall-through, the entry of an exception taken between two blocks. */
static void on_block(unsigned int vcpu, void *udata) {
    const Block *b = udata, *prev = last_block;
    const uint64_t ran = retired - retired_at_block;
    (void)vcpu;
    last_block = b;
    retired_at_block = retired;
    if (prev == NULL) {
        return;
    }
    if (ran != prev->n) {
        /* prev stopped early: under -icount an I/O access that is not a block's last
         * instruction ends the block there and QEMU runs it alone (re-translated, without
         * instrumentation), then goes on inside prev's range; or a fault left the block */
        if (b->start <= prev->start || b->start >= prev->next) {
            *b->first_cycles += timing->exception_entry;
        }
    } else if (b->start == prev->next) {
        *b->first_cycles += (uint64_t)(int64_t)tlm_pair(timing, &prev->last, &b->first);
    } else if (prev->last.branch != TLM_FLOW_NONE) {
        *prev->last_cycles += tlm_refill(timing, &prev->last, b->first_unaligned);
    } else {
        *b->first_cycles += timing->exception_entry;   /* SVC, an interrupt, a fault */
    }
}

/* Run time, each data read of a load from the Code region (flash_ws > 0). */
static void on_flash_read(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    uint64_t tag;
    unsigned i;
    (void)vcpu;
    if (vaddr >= FLASH_END || qemu_plugin_mem_is_store(info)) {
        return;
    }
    tag = vaddr / flash_line;
    for (i = 0; i < flash_used && flash_tags[i] != tag; i++) {
    }
    if (i == flash_used) {                         /* a miss: the flash read waits */
        *(uint64_t *)udata += flash_ws;
        if (flash_used < flash_lines) {
            flash_used++;
        }
        if (flash_used == 0) {
            return;                                /* no line buffer at all */
        }
        i = flash_used - 1;                        /* the least recently read line goes */
    }
    memmove(&flash_tags[1], &flash_tags[0], sizeof flash_tags[0] * i);
    flash_tags[0] = tag;
}

static void on_begin(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    memcpy(base, counts, sizeof(uint64_t) * (n_funcs + 1));
    memcpy(cycles_base, cycles, sizeof(uint64_t) * (n_funcs + 1));
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
    if (timing != NULL) {
        total = 0;
        for (i = 0; i <= n_funcs; i++) {
            total += cycles[i] - cycles_base[i];
        }
        fprintf(out, "cycles %u %" PRIu64 "\n", intervals - 1, total);
        for (i = 0; i <= n_funcs; i++) {
            if (cycles[i] != cycles_base[i]) {
                fprintf(out, "cfn %s %" PRIu64 "\n", i < n_funcs ? funcs[i].name : "(other)", cycles[i] - cycles_base[i]);
            }
        }
    }
    fflush(out);
}

static int is_load(unsigned kind) {
    return kind == TLM_LOAD || kind == TLM_LOAD_PAIR || kind == TLM_LOAD_MULTI || kind == TLM_TABLE_BRANCH ||
           kind == TLM_FP_LOAD || kind == TLM_FP_LOAD_DOUBLE || kind == TLM_FP_MULTI;
}

/* Translation time, with core=: each instruction's cost inline, the block's record for on_block. */
static void translate_cycles(struct qemu_plugin_tb *tb, size_t n) {
    Block *b = calloc(1, sizeof *b);
    TlmInsn prev;
    size_t i;
    if (b == NULL) {
        return;
    }
    b->older = blocks;
    blocks = b;
    b->n = n;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t addr = qemu_plugin_insn_vaddr(insn);
        const size_t size = qemu_plugin_insn_size(insn);
        const TlmInsn in = tlm_decode(qemu_plugin_insn_data(insn), size);
        uint64_t *counter = &cycles[counter_for(addr) - counts];
        const int cost = (int)tlm_cycles(timing, &in) + (i > 0 ? tlm_pair(timing, &prev, &in) : 0);
        if (cost > 0) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter, (uint64_t)cost);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &retired, 1);
        if (flash_ws > 0 && is_load(in.kind)) {
            /* QEMU_PLUGIN_MEM_R alone is never called back by QEMU 7.2 (measured): RW, then
             * on_flash_read skips stores */
            qemu_plugin_register_vcpu_mem_cb(insn, on_flash_read, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, counter);
        }
        if (i == 0) {
            b->start = addr;
            b->first = in;
            b->first_cycles = counter;
            b->first_unaligned = size == 4 && (addr & 3u) == 2u;
        }
        if (i + 1 == n) {
            b->next = addr + size;
            b->last = in;
            b->last_cycles = counter;
        }
        prev = in;
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
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
    if (timing != NULL && n > 0) {
        translate_cycles(tb, n);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    if (out != NULL) {
        fclose(out);
        out = NULL;
    }
    while (blocks != NULL) {
        Block *older = blocks->older;
        free(blocks);
        blocks = older;
    }
    last_block = NULL;
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
        } else if (strncmp(a, "core=", 5) == 0) {
            timing = tlm_timing(a + 5);
            if (timing == NULL) {
                qemu_plugin_outs("tlm_count: unknown core (m4, m0plus)\n");
                return -1;
            }
        } else if (strncmp(a, "flash_ws=", 9) == 0) {
            flash_ws = (unsigned)strtoul(a + 9, NULL, 0);
        } else if (strncmp(a, "flash_line=", 11) == 0) {
            flash_line = (unsigned)strtoul(a + 11, NULL, 0);
        } else if (strncmp(a, "flash_lines=", 12) == 0) {
            flash_lines = (unsigned)strtoul(a + 12, NULL, 0);
        } else {
            qemu_plugin_outs("tlm_count: unknown argument (syms=, begin=, end=, out=, profile=, core=, "
                             "flash_ws=, flash_line=, flash_lines=)\n");
            return -1;
        }
    }
    if (flash_line == 0 || flash_lines > MAX_FLASH_LINES || (flash_ws > 0 && timing == NULL)) {
        qemu_plugin_outs("tlm_count: flash_line must be > 0, flash_lines at most 64, flash_ws needs core=\n");
        return -1;
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
