/* startup.c: reset and exception vectors for QEMU's microbit (nRF51822, Cortex-M0).
 *
 * The vector table is the first thing in flash (microbit.ld puts .isr_vector at 0x0): the
 * core loads SP from word 0 and jumps to the reset handler in word 1. The reset handler
 * copies .data from flash to RAM, zeroes .bss and calls main(). No C library start-up code
 * runs (-nostartfiles). The Cortex-M0 has no FPU, and ARMv6-M has only NMI, HardFault,
 * SVCall, PendSV and SysTick among the system exceptions.
 *
 * Handlers are weak aliases of Default_Handler, so a port file overrides one by defining a
 * function of the same name. An unexpected exception ends the program with exit code 128 +
 * its exception number (131 for a HardFault) when the build has semihosting, and spins
 * otherwise.
 */
#include <stdint.h>

#include "tlm_port.h"

/* ----------------------------------------------------------------------------------------- */
/* Symbols from microbit.ld, and the application                                              */

extern uint32_t __data_load__[];    /* where .data's initial values are stored (flash) */
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
        tlm_port_exit(128 + (int)(ipsr & 0x3Fu));
    }
    for (;;) {
    }
}

/* ----------------------------------------------------------------------------------------- */
/* The vector table                                                                           */

#define N_IRQ 32  /* nRF51: 32 peripheral interrupt slots (QEMU nrf51_soc.c: num-irq = 32) */

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
        0, 0, 0, 0, 0, 0, 0,    /*  4..10 reserved on ARMv6-M */
        SVC_Handler,            /* 11 */
        0, 0,                   /* 12..13 reserved */
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

void Reset_Handler(void) {
    uint32_t *src, *dst;

    for (src = __data_load__, dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
    tlm_port_exit(main());
}
