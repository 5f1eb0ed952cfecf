/* tlm_timing.c: the Thumb decoder and the per-core timing tables of tlm_timing.h.
 *
 * The decoder follows the encoding tables of the ARMv7-M Architecture Reference Manual (A5.2
 * 16-bit, A5.3 32-bit, A6.4/A6.5 floating point) only as far as timing needs: what kind of
 * instruction, its size, how many registers a transfer moves, whether and how it can branch,
 * which register it writes and which registers form an address.
 */
#include "tlm_timing.h"

/* ------------------------------------------------------------------------------------------ */
/* The tables                                                                                 */

/* Cortex-M4 Technical Reference Manual (ARM DDI 0439B), Table 3-1 "Cortex-M4 instruction set
 * summary", its notes and section 3.3.2 "Load/store timings"; the FPU's Table 7-1 (M4F). */
static const TlmTiming M4 = {
    "m4", "ARM Cortex-M4 TRM (DDI 0439B) Table 3-1, 3.3.2, FPU Table 7-1",
    {
        [TLM_ALU] = 1,
        [TLM_IT] = 1,               /* 0 when folded (it_folding) */
        [TLM_MUL] = 1,              /* MUL, MLA, MLS and every DSP multiply: single cycle */
        [TLM_MUL_LONG] = 1,         /* SMULL, UMULL, SMLAL, UMLAL: 1 on the M4 (3-7 on the M3) */
        [TLM_DIV] = 7,              /* "2 to 12", early termination on the operands: the middle */
        [TLM_LOAD] = 2,             /* 1 when pipelined after a load (load_pipelining) */
        [TLM_STORE] = 1,            /* 3.3.2: "STR Rx,[Ry,#imm] is always one cycle" */
        [TLM_STORE_REG] = 2,
        [TLM_LOAD_PAIR] = 1,        /* 1 + N, N = 2 */
        [TLM_STORE_PAIR] = 1,
        [TLM_LOAD_MULTI] = 1,       /* 1 + N */
        [TLM_STORE_MULTI] = 1,
        [TLM_BRANCH] = 1,           /* + P when taken */
        [TLM_CALL] = 1,             /* BL: 1 + P */
        [TLM_TABLE_BRANCH] = 3,     /* TBB, TBH: 2 (load) + 1 (add) + P */
        [TLM_FP] = 1,
        [TLM_FP_MAC] = 3,
        [TLM_FP_DIV] = 14,
        [TLM_FP_LOAD] = 2,
        [TLM_FP_LOAD_DOUBLE] = 3,
        [TLM_FP_MULTI] = 1,         /* 1 + N */
        [TLM_FP_MOV2] = 2,
        [TLM_SYSTEM] = 2,           /* MRS, MSR, CPS: "1 or 2" */
        [TLM_BARRIER] = 1,          /* 1 + B, B (the barrier's wait) not modelled */
        [TLM_HINT] = 1,             /* WFI, WFE: 1 + W, the wait not modelled */
        [TLM_EXCEPTION] = 1,
    },
    /* P "ranges from 1 to 3 depending on the alignment and width of the target instruction, and
     * whether the processor manages to speculate the address early": 1 for a branch whose target
     * is in the instruction (speculated at decode), 2 when it comes from a register, 3 when it
     * is loaded from memory (3.3.2: LDR PC is "two cycles for the load, and three cycles for the
     * pipeline reload"); one more for a 32-bit target at 2 mod 4 (two fetches), at most 3. */
    {0, 1, 2, 3}, 1, 3,
    1,      /* 3.3.2: "if the next instruction is an LDR or STR, and the destination of the first
               LDR is not used to compute the address for the next instruction, then one cycle is
               removed from the cost of the next instruction" (a STR imm is 1 already) */
    1,      /* 3.3.2: "Any load or store that generates an address dependent on the result of a
               preceding data processing operation stalls the pipeline for an additional cycle" */
    1,      /* Table 3-1 note: IT "can be folded onto a preceding 16-bit Thumb instruction" */
    12,     /* exception entry latency with zero wait state memory */
};

/* Cortex-M0+ Technical Reference Manual (ARM DDI 0484C), Table 3-1 "Cortex-M0+ instruction
 * summary". ARMv6-M has no IT, CBZ, divide, DSP, long multiply, LDRD/STRD or FPU: their entries
 * only keep the table total (a cortex-m0plus build never executes them). */
static const TlmTiming M0PLUS = {
    "m0plus", "ARM Cortex-M0+ TRM (DDI 0484C) Table 3-1",
    {
        [TLM_ALU] = 1,
        [TLM_IT] = 1,
        [TLM_MUL] = 1,              /* MULS: 1 with the fast multiplier, 32 with the small one */
        [TLM_MUL_LONG] = 1,
        [TLM_DIV] = 7,
        [TLM_LOAD] = 2,             /* every load and store is 2: no pipelining on the M0+ */
        [TLM_STORE] = 2,
        [TLM_STORE_REG] = 2,
        [TLM_LOAD_PAIR] = 1,
        [TLM_STORE_PAIR] = 1,
        [TLM_LOAD_MULTI] = 1,       /* LDM, POP: 1 + N; POP with PC 3 + N (refill 2) */
        [TLM_STORE_MULTI] = 1,      /* STM, PUSH: 1 + N */
        [TLM_BRANCH] = 1,           /* B<c> 1 not taken, 2 taken; B, BX, BLX 2; MOV/ADD pc 2 */
        [TLM_CALL] = 2,             /* BL: 3 */
        [TLM_TABLE_BRANCH] = 2,
        [TLM_FP] = 1,
        [TLM_FP_MAC] = 1,
        [TLM_FP_DIV] = 1,
        [TLM_FP_LOAD] = 2,
        [TLM_FP_LOAD_DOUBLE] = 2,
        [TLM_FP_MULTI] = 1,
        [TLM_FP_MOV2] = 1,
        [TLM_SYSTEM] = 3,           /* MRS, MSR 3 (CPS 1: rare enough to share the entry) */
        [TLM_BARRIER] = 3,          /* DMB, DSB, ISB */
        [TLM_HINT] = 1,             /* NOP, YIELD, SEV 1; WFI, WFE 2 */
        [TLM_EXCEPTION] = 1,
    },
    {0, 1, 1, 2}, 0, 2,             /* the two-stage pipeline refills in one cycle */
    0, 0, 0,
    15,     /* interrupt latency with zero wait state memory */
};

const TlmTiming *tlm_timing(const char *core) {
    const char *a, *b;
    const TlmTiming *tables[] = {&M4, &M0PLUS};
    unsigned i;
    for (i = 0; core != NULL && i < sizeof tables / sizeof tables[0]; i++) {
        for (a = core, b = tables[i]->name; *a != '\0' && *a == *b; a++, b++) {
        }
        if (*a == '\0' && *b == '\0') {
            return tables[i];
        }
    }
    return NULL;
}

const char *tlm_kind_name(unsigned kind) {
    static const char *const names[TLM_KINDS] = {
        "alu", "it", "mul", "mul_long", "div", "load", "store", "store_reg", "load_pair", "store_pair",
        "load_multi", "store_multi", "branch", "call", "table_branch", "fp", "fp_mac", "fp_div", "fp_load",
        "fp_load_double", "fp_multi", "fp_mov2", "system", "barrier", "hint", "exception",
    };
    return kind < TLM_KINDS ? names[kind] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* Cycles                                                                                     */

static int moves_n(unsigned kind) {
    return kind == TLM_LOAD_PAIR || kind == TLM_STORE_PAIR || kind == TLM_LOAD_MULTI || kind == TLM_STORE_MULTI ||
           kind == TLM_FP_MULTI;
}

static int is_memory(unsigned kind) {
    return (kind >= TLM_LOAD && kind <= TLM_STORE_MULTI) || kind == TLM_TABLE_BRANCH ||
           (kind >= TLM_FP_LOAD && kind <= TLM_FP_MULTI);
}

unsigned tlm_cycles(const TlmTiming *t, const TlmInsn *in) {
    return t->cycles[in->kind] + (moves_n(in->kind) ? in->n : 0u);
}

int tlm_pair(const TlmTiming *t, const TlmInsn *prev, const TlmInsn *in) {
    int d = 0;
    const int feeds_address = prev->rd != TLM_NO_REG && (prev->rd == in->rn || prev->rd == in->rm);
    if (prev->branch != TLM_FLOW_NONE) {
        return 0;       /* the refill separates them */
    }
    if (t->load_pipelining && prev->kind == TLM_LOAD && (in->kind == TLM_LOAD || in->kind == TLM_STORE_REG) &&
        !feeds_address) {
        d -= 1;
    }
    if (t->agu_stall && is_memory(in->kind) && prev->kind <= TLM_DIV && prev->kind != TLM_IT) {
        const int feeds2 = prev->rd2 != TLM_NO_REG && (prev->rd2 == in->rn || prev->rd2 == in->rm);
        if (feeds_address || feeds2) {
            d += t->agu_stall;
        }
    }
    if (t->it_folding && in->kind == TLM_IT && prev->size == 2) {
        d -= t->cycles[TLM_IT];
    }
    return d;
}

unsigned tlm_refill(const TlmTiming *t, const TlmInsn *in, int unaligned_target) {
    unsigned p;
    if (in->branch == TLM_FLOW_NONE) {
        return 0;
    }
    p = t->refill[in->branch] + (unaligned_target ? t->refill_unaligned : 0u);
    return p < t->refill_max ? p : t->refill_max;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */

static unsigned popcount16(unsigned v) {
    unsigned n = 0;
    for (v &= 0xFFFFu; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

static TlmInsn blank(unsigned kind, unsigned size) {
    TlmInsn in;
    in.kind = (uint8_t)kind;
    in.size = (uint8_t)size;
    in.n = 0;
    in.branch = TLM_FLOW_NONE;
    in.rd = in.rd2 = in.rn = in.rm = TLM_NO_REG;
    return in;
}

/* A data-processing destination; 15 (compare/test forms) writes no register. */
static void dest(TlmInsn *in, unsigned rd) {
    in->rd = rd == 15 ? TLM_NO_REG : (uint8_t)rd;
}

static void transfer(TlmInsn *in, int load, unsigned rt, unsigned rn, unsigned rm, int reg_offset) {
    in->kind = load ? TLM_LOAD : reg_offset ? TLM_STORE_REG : TLM_STORE;
    in->rn = (uint8_t)rn;
    in->rm = (uint8_t)rm;
    if (load) {
        in->rd = (uint8_t)rt;
        if (rt == 15) {
            in->rd = TLM_NO_REG;
            in->branch = TLM_FLOW_LOADED;
        }
    }
}

static void multiple(TlmInsn *in, int load, unsigned list, unsigned rn) {
    in->kind = load ? TLM_LOAD_MULTI : TLM_STORE_MULTI;
    in->n = (uint8_t)popcount16(list);
    in->rn = (uint8_t)rn;
    if (load && (list & 0x8000u)) {
        in->branch = TLM_FLOW_LOADED;
    }
}

static void branch(TlmInsn *in, unsigned kind, unsigned flow) {
    in->kind = (uint8_t)kind;
    in->branch = (uint8_t)flow;
    in->rd = TLM_NO_REG;
}

/* 0xB000..0xBFFF: SP adjust, CBZ, extends, PUSH/POP, CPS, REV, BKPT, IT and hints (A5.2.5). */
static void misc16(TlmInsn *in, unsigned hw) {
    if ((hw & 0xFF00u) == 0xB000u) {
        dest(in, 13);
    } else if ((hw & 0xF500u) == 0xB100u) {
        branch(in, TLM_BRANCH, TLM_FLOW_DIRECT);                 /* CBZ, CBNZ */
    } else if ((hw & 0xFF00u) == 0xB200u || (hw & 0xFF00u) == 0xBA00u) {
        dest(in, hw & 7u);                                       /* SXTH.. UXTB, REV.. */
    } else if ((hw & 0xFE00u) == 0xB400u) {
        multiple(in, 0, (hw & 0xFFu) | ((hw & 0x100u) << 6), 13);   /* PUSH {.., lr} */
    } else if ((hw & 0xFFE0u) == 0xB660u) {
        in->kind = TLM_SYSTEM;                                   /* CPSIE, CPSID */
    } else if ((hw & 0xFE00u) == 0xBC00u) {
        multiple(in, 1, (hw & 0xFFu) | ((hw & 0x100u) << 7), 13);   /* POP {.., pc} */
    } else if ((hw & 0xFF00u) == 0xBE00u) {
        in->kind = TLM_EXCEPTION;                                /* BKPT */
    } else if ((hw & 0xFF00u) == 0xBF00u) {
        in->kind = (hw & 0xFu) ? TLM_IT : TLM_HINT;
    }
}

static TlmInsn insn16(unsigned hw) {
    TlmInsn in = blank(TLM_ALU, 2);
    if (hw < 0x2000u) {                         /* shift by immediate, add/sub register or imm3 */
        dest(&in, hw & 7u);
    } else if (hw < 0x4000u) {                  /* MOV, CMP, ADD, SUB #imm8 */
        if (((hw >> 11) & 3u) != 1u) {
            dest(&in, (hw >> 8) & 7u);
        }
    } else if (hw < 0x4400u) {                  /* data processing: AND .. MVN */
        const unsigned op = (hw >> 6) & 0xFu;
        if (op == 13u) {
            in.kind = TLM_MUL;
        }
        if (op != 8u && op != 10u && op != 11u) {   /* TST, CMP, CMN write nothing */
            dest(&in, hw & 7u);
        }
    } else if (hw < 0x4800u) {                  /* ADD/CMP/MOV high registers, BX, BLX */
        const unsigned op = (hw >> 8) & 3u, rd = ((hw >> 4) & 8u) | (hw & 7u);
        if (op == 3u || (op != 1u && rd == 15u)) {
            branch(&in, TLM_BRANCH, TLM_FLOW_REGISTER);
        } else if (op != 1u) {
            dest(&in, rd);
        }
    } else if (hw < 0x5000u) {                  /* LDR Rt, [pc, #imm] */
        transfer(&in, 1, (hw >> 8) & 7u, 15, TLM_NO_REG, 0);
    } else if (hw < 0x6000u) {                  /* load/store register offset */
        const unsigned op = (hw >> 9) & 7u;
        transfer(&in, op >= 3u, hw & 7u, (hw >> 3) & 7u, (hw >> 6) & 7u, 1);
    } else if (hw < 0x9000u) {                  /* word/byte (0x6000..) and halfword (0x8000..) imm */
        transfer(&in, (hw >> 11) & 1u, hw & 7u, (hw >> 3) & 7u, TLM_NO_REG, 0);
    } else if (hw < 0xA000u) {                  /* SP-relative */
        transfer(&in, (hw >> 11) & 1u, (hw >> 8) & 7u, 13, TLM_NO_REG, 0);
    } else if (hw < 0xB000u) {                  /* ADR, ADD Rd, SP, #imm */
        dest(&in, (hw >> 8) & 7u);
    } else if (hw < 0xC000u) {
        misc16(&in, hw);
    } else if (hw < 0xD000u) {                  /* STM, LDM */
        multiple(&in, (hw >> 11) & 1u, hw & 0xFFu, (hw >> 8) & 7u);
    } else if (hw < 0xE000u) {                  /* B<c>; cond 14 UDF, 15 SVC */
        if (((hw >> 8) & 0xFu) >= 14u) {
            in.kind = TLM_EXCEPTION;
        } else {
            branch(&in, TLM_BRANCH, TLM_FLOW_DIRECT);
        }
    } else {                                    /* B */
        branch(&in, TLM_BRANCH, TLM_FLOW_DIRECT);
    }
    return in;
}

/* Coprocessor space, 0xEC00..0xEFFF: the FPU when the coprocessor is 10 or 11 (A6.4, A6.5). */
static void fp32(TlmInsn *in, unsigned h1, unsigned h2) {
    if ((((h2 >> 8) & 0xEu) != 0xAu) || h1 >= 0xF000u) {
        return;                                     /* another coprocessor: ALU */
    }
    if ((h1 & 0xFE00u) == 0xEC00u) {                /* extension register load/store */
        const unsigned p = (h1 >> 8) & 1u, u = (h1 >> 7) & 1u, w = (h1 >> 5) & 1u;
        in->rn = (uint8_t)(h1 & 0xFu);
        if ((h1 & 0xFFE0u) == 0xEC40u) {
            in->kind = TLM_FP_MOV2;                 /* VMOV two core registers */
            in->rn = TLM_NO_REG;
        } else if (p && !w) {
            in->kind = (h2 & 0x100u) ? TLM_FP_LOAD_DOUBLE : TLM_FP_LOAD;   /* VLDR, VSTR */
        } else if (p || u || w) {
            in->kind = TLM_FP_MULTI;                /* VLDM, VSTM, VPUSH, VPOP: imm8 words */
            in->n = (uint8_t)(h2 & 0xFFu);
        } else {
            in->rn = TLM_NO_REG;
        }
    } else if (h2 & 0x10u) {
        in->kind = TLM_FP;                          /* VMOV core <-> single, VMRS, VMSR */
    } else {
        const unsigned opc1 = ((h1 >> 5) & 4u) | ((h1 >> 4) & 3u);   /* bits 7, 5, 4 (6 is D) */
        static const uint8_t by_opc1[8] = {TLM_FP_MAC, TLM_FP_MAC, TLM_FP, TLM_FP,
                                           TLM_FP_DIV, TLM_FP_MAC, TLM_FP_MAC, TLM_FP};
        in->kind = by_opc1[opc1];
        if (opc1 == 7u && (h1 & 0xFu) == 1u && ((h2 >> 6) & 3u) == 3u) {
            in->kind = TLM_FP_DIV;                  /* VSQRT */
        }
    }
}

/* 0xF000..0xF7FF with bit 15 of the second halfword set: branches and control (A5.3.4). */
static void control32(TlmInsn *in, unsigned h1, unsigned h2) {
    const unsigned b = ((h2 >> 13) & 2u) | ((h2 >> 12) & 1u);    /* bits 14, 12 */
    if (b == 3u) {
        branch(in, TLM_CALL, TLM_FLOW_DIRECT);                   /* BL */
    } else if (b != 0u) {
        branch(in, TLM_BRANCH, TLM_FLOW_DIRECT);                 /* B.W (BLX imm is not ARMv7-M) */
    } else if (((h1 >> 7) & 7u) != 7u) {
        branch(in, TLM_BRANCH, TLM_FLOW_DIRECT);                 /* B<c>.W */
    } else {
        const unsigned op = (h1 >> 4) & 0x7Fu;
        if (op == 0x38u || op == 0x39u || op == 0x3Eu || op == 0x3Fu) {
            in->kind = TLM_SYSTEM;                               /* MSR, MRS */
        } else if (op == 0x3Au) {
            in->kind = (h2 & 0x700u) ? TLM_SYSTEM : TLM_HINT;    /* CPS.W, NOP.W .. SEV.W */
        } else if (op == 0x3Bu) {
            const unsigned o = (h2 >> 4) & 0xFu;
            in->kind = (o >= 4u && o <= 6u) ? TLM_BARRIER : TLM_ALU;   /* DSB DMB ISB; CLREX */
        } else if (op == 0x7Fu && (h2 & 0x7000u) == 0x2000u) {
            in->kind = TLM_EXCEPTION;                            /* UDF.W */
        }
    }
}

/* Load/store dual, exclusive, table branch: (h1 & 0xFE40) == 0xE840 (A5.3.6). */
static void dual32(TlmInsn *in, unsigned h1, unsigned h2) {
    const unsigned o1 = (h1 >> 7) & 3u, o2 = (h1 >> 4) & 3u, rn = h1 & 0xFu, rt = h2 >> 12;
    if ((o1 & 2u) || (o2 & 2u)) {                                /* LDRD, STRD */
        in->kind = (o2 & 1u) ? TLM_LOAD_PAIR : TLM_STORE_PAIR;
        in->n = 2;
        in->rn = (uint8_t)rn;
        if (o2 & 1u) {
            in->rd = (uint8_t)rt;
            in->rd2 = (uint8_t)((h2 >> 8) & 0xFu);
        }
    } else if (o1 == 1u && o2 == 1u && ((h2 >> 4) & 0xFu) <= 1u) {
        in->kind = TLM_TABLE_BRANCH;                             /* TBB, TBH */
        in->branch = TLM_FLOW_LOADED;
        in->rn = (uint8_t)rn;
        in->rm = (uint8_t)(h2 & 0xFu);
    } else {
        transfer(in, o2 & 1u, rt, rn, TLM_NO_REG, 0);            /* LDREX*, STREX* */
    }
}

static TlmInsn insn32(unsigned h1, unsigned h2) {
    TlmInsn in = blank(TLM_ALU, 4);
    const unsigned op1 = (h1 >> 11) & 3u, op2 = (h1 >> 4) & 0x7Fu;
    if (op1 == 1u) {
        if ((op2 & 0x64u) == 0x00u) {                            /* LDM, STM, PUSH.W, POP.W */
            multiple(&in, (h1 >> 4) & 1u, h2, h1 & 0xFu);
        } else if ((op2 & 0x64u) == 0x04u) {
            dual32(&in, h1, h2);
        } else if ((op2 & 0x60u) == 0x20u) {                     /* data processing, shifted register */
            dest(&in, (h2 >> 8) & 0xFu);
        } else {
            fp32(&in, h1, h2);
        }
    } else if (op1 == 2u) {
        if (h2 & 0x8000u) {
            control32(&in, h1, h2);
        } else {                                                 /* data processing, immediate */
            dest(&in, (h2 >> 8) & 0xFu);
        }
    } else if ((op2 & 0x71u) == 0x00u) {                         /* store single data item */
        const int reg = !(h1 & 0x80u) && ((h2 >> 6) & 0x3Fu) == 0u;
        transfer(&in, 0, h2 >> 12, h1 & 0xFu, reg ? (h2 & 0xFu) : TLM_NO_REG, reg);
    } else if ((op2 & 0x67u) == 0x01u || (op2 & 0x67u) == 0x03u || (op2 & 0x67u) == 0x05u) {
        const unsigned rn = h1 & 0xFu, rt = h2 >> 12;
        const int reg = rn != 15u && !(h1 & 0x80u) && ((h2 >> 6) & 0x3Fu) == 0u;
        if (rt == 15u && (op2 & 0x67u) != 0x05u) {
            in.kind = TLM_HINT;                                  /* PLD, PLI */
        } else {
            transfer(&in, 1, rt, rn, reg ? (h2 & 0xFu) : TLM_NO_REG, reg);
        }
    } else if ((op2 & 0x70u) == 0x20u) {                         /* data processing, register */
        dest(&in, (h2 >> 8) & 0xFu);
    } else if ((op2 & 0x78u) == 0x30u) {                         /* multiply, multiply-accumulate */
        in.kind = TLM_MUL;
        dest(&in, (h2 >> 8) & 0xFu);
    } else if ((op2 & 0x78u) == 0x38u) {                         /* long multiply, divide */
        const unsigned o1 = (h1 >> 4) & 7u, o2 = (h2 >> 4) & 0xFu;
        if ((o1 == 1u || o1 == 3u) && o2 == 0xFu) {
            in.kind = TLM_DIV;
            dest(&in, (h2 >> 8) & 0xFu);
        } else {
            in.kind = TLM_MUL_LONG;
            dest(&in, h2 >> 12);
            in.rd2 = (uint8_t)((h2 >> 8) & 0xFu);
        }
    }
    return in;
}

TlmInsn tlm_decode(const uint8_t *bytes, size_t size) {
    const unsigned h1 = (unsigned)bytes[0] | ((unsigned)bytes[1] << 8);
    if (size >= 4 && (h1 >> 11) >= 0x1Du) {
        return insn32(h1, (unsigned)bytes[2] | ((unsigned)bytes[3] << 8));
    }
    return insn16(h1);
}
