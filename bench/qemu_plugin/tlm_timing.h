/* tlm_timing.h: what one Thumb instruction costs on a Cortex-M4 or a Cortex-M0+, in cycles,
 * from its encoding: a decoder (bytes -> TlmInsn) and one timing table per core (TlmTiming),
 * the numbers of the cores' technical reference manuals (docs/runtime.md, "Cycle estimates",
 * prints the same table). Plain C99 with no QEMU in it: tlm_count.c (the QEMU plugin) uses it
 * at translation time, tests/timing_harness_main.c on the host.
 *
 *   TlmInsn in = tlm_decode(bytes, size);           // size: 2 or 4 (what QEMU translated)
 *   const TlmTiming *t = tlm_timing("m4");           // "m4" or "m0plus"; NULL if unknown
 *   cycles = tlm_cycles(t, &in) + tlm_pair(t, &prev, &in);   // prev: the instruction before
 *   if taken: cycles += tlm_refill(t, &in, target_is_unaligned_32bit);
 *
 * The model: every instruction costs its table entry (plus N for the register-list and
 * double-word transfers); a few neighbouring pairs adjust that (tlm_pair: pipelined loads, the
 * address-generation stall, IT folding); a branch that is taken adds its pipeline refill P.
 * What it leaves out is listed in docs/runtime.md: memory wait states (unless the plugin's flash
 * model is on), divide early termination, register-dependent multiply timing, interrupts.
 */
#ifndef TLM_TIMING_H
#define TLM_TIMING_H

#include <stddef.h>
#include <stdint.h>

#define TLM_NO_REG 0xFF

/* What an instruction does, as far as its timing goes. Keep tlm_kind_name() in step. */
typedef enum {
    TLM_ALU,            /* data processing, moves, shifts, extends, bit fields, SIMD, saturation */
    TLM_IT,             /* IT: folds into a preceding 16-bit instruction on the M4 */
    TLM_MUL,            /* 32-bit result: MUL, MLA, MLS, SMLAD, SMUAD, SMULBB, SMMLA, ... */
    TLM_MUL_LONG,       /* 64-bit result: SMULL, UMULL, SMLAL, UMLAL, SMLALD, UMAAL, ... */
    TLM_DIV,            /* SDIV, UDIV */
    TLM_LOAD,           /* one register: LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX, literal or not */
    TLM_STORE,          /* one register, immediate offset: STR, STRB, STRH, STREX */
    TLM_STORE_REG,      /* one register, register offset: STR Rt, [Rn, Rm] */
    TLM_LOAD_PAIR,      /* LDRD: 1 + N, N = 2 */
    TLM_STORE_PAIR,     /* STRD */
    TLM_LOAD_MULTI,     /* LDM, POP: 1 + N */
    TLM_STORE_MULTI,    /* STM, PUSH */
    TLM_BRANCH,         /* B, B<c>, CBZ, CBNZ, BX, BLX Rm, MOV/ADD pc */
    TLM_CALL,           /* BL */
    TLM_TABLE_BRANCH,   /* TBB, TBH */
    TLM_FP,             /* VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCVT, VCMP, VMOV, VMRS, VMSR */
    TLM_FP_MAC,         /* VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS */
    TLM_FP_DIV,         /* VDIV, VSQRT */
    TLM_FP_LOAD,        /* VLDR, VSTR of one single-precision register */
    TLM_FP_LOAD_DOUBLE, /* VLDR, VSTR of one double-precision register */
    TLM_FP_MULTI,       /* VLDM, VSTM, VPUSH, VPOP: 1 + N words */
    TLM_FP_MOV2,        /* VMOV between two core registers and a double or two singles */
    TLM_SYSTEM,         /* MRS, MSR, CPSIE, CPSID */
    TLM_BARRIER,        /* DMB, DSB, ISB */
    TLM_HINT,           /* NOP, YIELD, WFI, WFE, SEV, PLD, PLI */
    TLM_EXCEPTION,      /* SVC, BKPT, UDF: the exception entry is charged where it happens */
    TLM_KINDS
} TlmKind;

/* Refill classes of an instruction that can change the flow (TlmInsn.branch). */
enum { TLM_FLOW_NONE, TLM_FLOW_DIRECT, TLM_FLOW_REGISTER, TLM_FLOW_LOADED };

typedef struct {
    uint8_t kind;       /* TlmKind */
    uint8_t size;       /* bytes: 2 or 4 */
    uint8_t n;          /* registers (words) a multiple or double transfer moves, else 0 */
    uint8_t branch;     /* TLM_FLOW_*: what its pipeline refill costs if it is taken */
    uint8_t rd, rd2;    /* registers it writes (data processing, loads), TLM_NO_REG if none */
    uint8_t rn, rm;     /* address registers of a load or store, TLM_NO_REG if none */
} TlmInsn;

/* One core's cycle counts (zero wait state memory), indexed by TlmKind, and the rules around
 * them. The values and where each comes from are in tlm_timing.c. */
typedef struct {
    const char *name;           /* "m4", "m0plus" */
    const char *source;         /* the manual the numbers come from */
    uint8_t cycles[TLM_KINDS];  /* base cost; multiple/double transfers add n */
    uint8_t refill[4];          /* P of a taken branch, by TLM_FLOW_* */
    uint8_t refill_unaligned;   /* P + this when the target is a 32-bit instruction at 2 mod 4 */
    uint8_t refill_max;         /* P never exceeds this */
    uint8_t load_pipelining;    /* a load or register-offset store after a load: 1 cycle less */
    uint8_t agu_stall;          /* a load/store whose address the preceding data-processing
                                   instruction wrote: this many cycles more */
    uint8_t it_folding;         /* IT after a 16-bit instruction: 0 cycles */
    uint8_t exception_entry;    /* cycles from the interrupted instruction to the handler's first */
} TlmTiming;

/* Decode the instruction at `bytes` (little-endian halfwords; 4 bytes for a 32-bit encoding). */
TlmInsn tlm_decode(const uint8_t *bytes, size_t size);

/* The timing table of a core by name ("m4", "m0plus"), NULL if there is none. */
const TlmTiming *tlm_timing(const char *core);

/* Base cycles of an instruction on its own (no neighbour known), without a refill. */
unsigned tlm_cycles(const TlmTiming *t, const TlmInsn *in);

/* The correction when `prev` ran just before `in` (signed: pipelining saves, stalls cost). */
int tlm_pair(const TlmTiming *t, const TlmInsn *prev, const TlmInsn *in);

/* The refill a taken branch `in` adds; `unaligned_target`: the next instruction executed is a
 * 32-bit encoding at an address that is 2 mod 4. 0 for an instruction that cannot branch. */
unsigned tlm_refill(const TlmTiming *t, const TlmInsn *in, int unaligned_target);

/* "alu", "load", ... for reports and tests. */
const char *tlm_kind_name(unsigned kind);

#endif /* TLM_TIMING_H */
