/* cortex_m.h: what ports/cortex_m/startup.c offers the bare-metal ports' port layers.
 *
 * The start-up (vector table, reset, default handler) needs nothing from a port but its
 * linker script's symbols and tlm_port_exit(). A port's tlm_port_exit() stops whatever
 * interrupt source it started (a SysTick, say), then ends with tlm_cortex_m_exit(code).
 */
#ifndef TLM_CORTEX_M_H
#define TLM_CORTEX_M_H

#include <stddef.h>
#include <stdint.h>

/* The end of tlm_port_exit (tlm_port.h), the same on every Cortex-M: in a TLM_SEMIHOSTING=1
 * build, a semihosting SYS_EXIT_EXTENDED with `code` (QEMU with semihosting exits with it);
 * then interrupts off and wfi forever. Safe to call again from the HardFault that the
 * breakpoint raises where no debugger or semihosting answers it. */
void tlm_cortex_m_exit(int code) __attribute__((noreturn));

/* The end of a port's tlm_port_write_some, which took `took` of `asked` bytes: returns `took`.
 * With no room at all it first pauses (port_mps2.c says why it pauses at all): `short_loops`
 * nops for each of the first TLM_BACKOFF_SHORT_TRIES no-room answers in a row, `long_loops`
 * after them. `*no_room` counts those answers; progress zeroes it. */
#define TLM_BACKOFF_SHORT_TRIES 16u
size_t tlm_cortex_m_wrote(size_t took, size_t asked, uint32_t *no_room, uint32_t short_loops, uint32_t long_loops);

/* tlm_port_millis() of a port whose tlm_port_cycles() counts `ticks_per_ms` a millisecond: each
 * call adds the ticks since the previous one, so no wrap of the 32-bit counter is missed while
 * calls come at least once per wrap (171 s at 25 MHz, 268 s at 16 MHz). */
uint32_t tlm_cortex_m_millis(uint32_t ticks_per_ms);

#endif /* TLM_CORTEX_M_H */
