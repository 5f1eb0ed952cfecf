/* cortex_m.h: what ports/cortex_m/startup.c offers the bare-metal ports' port layers.
 *
 * The start-up (vector table, reset, default handler) needs nothing from a port but its
 * linker script's symbols and tlm_port_exit(). A port's tlm_port_exit() stops whatever
 * interrupt source it started (a SysTick, say), then ends with tlm_cortex_m_exit(code).
 */
#ifndef TLM_CORTEX_M_H
#define TLM_CORTEX_M_H

/* The end of tlm_port_exit (tlm_port.h), the same on every Cortex-M: in a TLM_SEMIHOSTING=1
 * build, a semihosting SYS_EXIT_EXTENDED with `code` (QEMU with semihosting exits with it);
 * then interrupts off and wfi forever. Safe to call again from the HardFault that the
 * breakpoint raises where no debugger or semihosting answers it. */
void tlm_cortex_m_exit(int code) __attribute__((noreturn));

#endif /* TLM_CORTEX_M_H */
