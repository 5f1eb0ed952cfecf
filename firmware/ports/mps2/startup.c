/* startup.c: reset and exception vectors for QEMU's mps2-an386 (Cortex-M4F).
 *
 * The vector table is the first thing in the image (mps2.ld puts .isr_vector at 0x0): the
 * core loads SP from word 0 and jumps to the reset handler in word 1. The reset handler
 * enables the FPU, copies .data from its load address to RAM, zeroes .bss and calls main().
 * No C library start-up code runs (-nostartfiles): nothing here needs it.
 *
 * Handlers are weak aliases of Default_Handler, so a port file overrides one by defining a
 * function of the same name (port_mps2.c defines SysTick_Handler). An unexpected exception
 * ends the program with exit code 128 + its exception number (131 for a HardFault) when the
 * build has semihosting, and spins otherwise.
 */
#include <stdint.h>

#include "tlm_port.h"

/* ----------------------------------------------------------------------------------------- */
/* Symbols from mps2.ld, and the application                                                  */

extern uint32_t __data_load__[];    /* where .data's initial values are stored (FLASH) */
extern uint32_t __data_start__[];   /* where .data lives (RAM) */
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_top__[];

int main(void);

/* ----------------------------------------------------------------------------------------- */
/* Handlers                                                                                   */

void Reset_Handler(void);
void Default_Handler(void);

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;
void Irq_Handler(void) WEAK_DEFAULT;    /* every external interrupt: none is enabled */

/* Set once an unexpected exception has been seen: a second one (a fault on the way out)
 * just spins. */
static volatile uint32_t fault_seen;

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    if (!fault_seen) {
        fault_seen = 1;
        tlm_port_exit(128 + (int)(ipsr & 0x1FFu));
    }
    for (;;) {
    }
}

/* ----------------------------------------------------------------------------------------- */
/* The vector table                                                                           */

#define N_IRQ 32  /* QEMU's mps2-an386 NVIC: num-irq = 32 (hw/arm/mps2.c) */

typedef void (*Handler)(void);

typedef struct {
    uint32_t *initial_sp;
    Handler exceptions[15];     /* Reset .. SysTick, exception numbers 1..15 */
    Handler irqs[N_IRQ];        /* exception numbers 16.. */
} VectorTable;

__attribute__((section(".isr_vector"), used))
static const VectorTable vector_table = {
    __stack_top__,
    {
        Reset_Handler,          /*  1 */
        NMI_Handler,            /*  2 */
        HardFault_Handler,      /*  3 */
        MemManage_Handler,      /*  4 */
        BusFault_Handler,       /*  5 */
        UsageFault_Handler,     /*  6 */
        0, 0, 0, 0,             /*  7..10 reserved */
        SVC_Handler,            /* 11 */
        DebugMon_Handler,       /* 12 */
        0,                      /* 13 reserved */
        PendSV_Handler,         /* 14 */
        SysTick_Handler,        /* 15 */
    },
    {
        Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler,
        Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler,
        Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler,
        Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler,
        Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler,
        Irq_Handler, Irq_Handler,
    },
};

/* ----------------------------------------------------------------------------------------- */
/* Reset                                                                                      */

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)  /* coprocessor access control */

/* Full access to CP10 and CP11 (the FPU). Must run before any floating-point instruction:
 * with -mfloat-abi=hard the compiler may use FPU registers anywhere after this. */
static void fpu_enable(void) {
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

void Reset_Handler(void) {
    uint32_t *src, *dst;

    fpu_enable();
    for (src = __data_load__, dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
    tlm_port_exit(main());
}
