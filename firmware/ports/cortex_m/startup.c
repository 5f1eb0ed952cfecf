/* startup.c: reset, exception vectors and exit, shared by the bare-metal Cortex-M ports
 * (mps2: Cortex-M4F; microbit: Cortex-M0 running cortex-m0plus code). cross.py links it into
 * every port that has a linker script, which must define the symbols below and put
 * .isr_vector first in the image, at 0x0.
 *
 * The core loads SP from word 0 of the vector table and jumps to the reset handler in word 1.
 * The reset handler enables the FPU when the code is built for one, copies .data from its
 * load address to RAM, zeroes .bss and calls main(); main's return value becomes the exit
 * code. No C library start-up code runs (-nostartfiles): nothing here needs it.
 *
 * What differs between cores is read from the compiler's architecture macros, not from the
 * port: ARMv6-M (and ARMv8-M Baseline) has only NMI, HardFault, SVCall, PendSV and SysTick
 * among the system exceptions and a 6-bit exception number; ARMv7-M adds MemManage, BusFault,
 * UsageFault and DebugMonitor and a 9-bit number.
 *
 * Handlers are weak aliases of Default_Handler, so a port file overrides one by defining a
 * function of the same name (port_mps2.c defines SysTick_Handler). An unexpected exception
 * ends the program with exit code 128 + its exception number (131 for a HardFault) when the
 * build has semihosting, and spins otherwise.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "tlm_port.h"

#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_8M_BASE__)
#define MAINLINE 0
#define IPSR_EXCEPTION 0x3Fu
#else
#define MAINLINE 1
#define IPSR_EXCEPTION 0x1FFu
#endif

/* Peripheral interrupt slots in the table. No port enables an interrupt, so every slot is
 * Irq_Handler; both QEMU machines have 32 (hw/arm/mps2.c and hw/arm/nrf51_soc.c: num-irq). */
#ifndef TLM_N_IRQ
#define TLM_N_IRQ 32
#endif

#ifndef TLM_SEMIHOSTING
#define TLM_SEMIHOSTING 0
#endif

/* ----------------------------------------------------------------------------------------- */
/* Symbols from the port's linker script, and the application                                 */

extern uint32_t __data_load__[];    /* where .data's initial values are stored (flash) */
extern uint32_t __data_start__[];   /* where .data lives (RAM) */
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_top__[];

int main(void);

/* ----------------------------------------------------------------------------------------- */
/* Exit                                                                                       */

void tlm_cortex_m_exit(int code) {
#if TLM_SEMIHOSTING
    /* SYS_EXIT_EXTENDED (0x20): r1 points at {reason, subcode}; with reason
     * ADP_Stopped_ApplicationExit (0x20026) QEMU exits with status `subcode`. Without
     * semihosting the breakpoint raises a HardFault whose handler calls here again: that
     * second call must not break again (a fault inside the HardFault handler locks the core
     * up, which QEMU 7.2 treats as fatal and aborts on). */
    static volatile uint32_t tried;
    if (!tried) {
        volatile uint32_t block[2];
        tried = 1;
        block[0] = 0x20026u;
        block[1] = (uint32_t)code;
        {   /* operands set right before the breakpoint, nothing in between */
            register uint32_t r0 __asm__("r0") = 0x20u;
            register volatile uint32_t *r1 __asm__("r1") = block;
            __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
        }
    }
#else
    (void)code;
#endif
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Handlers                                                                                   */

void Reset_Handler(void);
void Default_Handler(void);

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
#if MAINLINE
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
#endif
void SVC_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;
void Irq_Handler(void) WEAK_DEFAULT;    /* every peripheral interrupt: none is enabled */

/* Set once an unexpected exception has been seen: a second one (a fault on the way out)
 * just spins. */
static volatile uint32_t fault_seen;

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    if (!fault_seen) {
        fault_seen = 1;
        tlm_port_exit(128 + (int)(ipsr & IPSR_EXCEPTION));
    }
    for (;;) {
    }
}

/* ----------------------------------------------------------------------------------------- */
/* The vector table                                                                           */

typedef void (*Handler)(void);

typedef struct {
    uint32_t *initial_sp;
    Handler exceptions[15];     /* Reset .. SysTick, exception numbers 1..15 */
    Handler irqs[TLM_N_IRQ];    /* exception numbers 16.. */
} VectorTable;

__attribute__((section(".isr_vector"), used))
static const VectorTable vector_table = {
    __stack_top__,
    {
        Reset_Handler,          /*  1 */
        NMI_Handler,            /*  2 */
        HardFault_Handler,      /*  3 */
#if MAINLINE
        MemManage_Handler,      /*  4 */
        BusFault_Handler,       /*  5 */
        UsageFault_Handler,     /*  6 */
#else
        0, 0, 0,                /*  4..6 reserved on ARMv6-M */
#endif
        0, 0, 0, 0,             /*  7..10 reserved */
        SVC_Handler,            /* 11 */
#if MAINLINE
        DebugMon_Handler,       /* 12 */
#else
        0,                      /* 12 reserved on ARMv6-M */
#endif
        0,                      /* 13 reserved */
        PendSV_Handler,         /* 14 */
        SysTick_Handler,        /* 15 */
    },
    {[0 ... TLM_N_IRQ - 1] = Irq_Handler},     /* a GNU C range */
};

/* ----------------------------------------------------------------------------------------- */
/* Reset                                                                                      */

#if defined(__ARM_FP)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)  /* coprocessor access control */

/* Full access to CP10 and CP11 (the FPU). Must run before any floating-point instruction:
 * with -mfloat-abi=hard the compiler may use FPU registers anywhere after this. */
static void fpu_enable(void) {
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}
#endif

void Reset_Handler(void) {
    uint32_t *src, *dst;

#if defined(__ARM_FP)
    fpu_enable();
#endif
    for (src = __data_load__, dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
    tlm_port_exit(main());
}


size_t tlm_cortex_m_wrote(size_t took, size_t asked, uint32_t *no_room, uint32_t short_loops, uint32_t long_loops) {
    if (took > 0) {
        *no_room = 0;
    } else if (asked > 0) {
        uint32_t n = (*no_room)++ < TLM_BACKOFF_SHORT_TRIES ? short_loops : long_loops;
        uint32_t i;
        for (i = 0; i < n; i++) {
            __asm__ volatile("nop");
        }
    }
    return took;
}


static uint32_t ms_ticks_seen;      /* tlm_port_cycles() at the previous call */
static uint32_t ms_ticks_left;      /* ticks not yet counted as a whole millisecond */
static uint32_t ms_now;

uint32_t tlm_cortex_m_millis(uint32_t ticks_per_ms) {
    uint32_t t = tlm_port_cycles();
    uint32_t d = t - ms_ticks_seen;
    ms_ticks_seen = t;
    ms_now += d / ticks_per_ms;
    ms_ticks_left += d % ticks_per_ms;
    if (ms_ticks_left >= ticks_per_ms) {
        ms_ticks_left -= ticks_per_ms;
        ms_now++;
    }
    return ms_now;
}
