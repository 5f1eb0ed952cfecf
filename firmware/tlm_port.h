/* tlm_port.h: what the portable runtime needs from a board, and nothing more.
 *
 * One implementation per platform lives in firmware/ports/<port>/ (mps2, microbit, ...).
 * The serial link is a byte pipe: a UART on a real board (reached as /dev/ttyACM0 or
 * similar) or QEMU's emulated UART on a loopback TCP socket (reached by pyserial as
 * socket://127.0.0.1:PORT). All calls are blocking and polled: no interrupts are used for
 * the UART, so the runtime's timing is the same whether or not a host is connected.
 *
 *     tlm_port_init();
 *     for (;;) {
 *         int c = tlm_port_getc();
 *         ...
 *         tlm_port_write("OK\n", 3);
 *     }
 *
 * Timing: tlm_port_cycles() is a free-running 32-bit counter; subtract two readings as
 * uint32_t to get the ticks between them (wraps after 2^32 ticks: 171 s at 25 MHz).
 * tlm_port_counter() names its source so the host can interpret the numbers:
 *
 *   "dwt"      DWT CYCCNT: core clock cycles (real Cortex-M3/M4/M7 silicon).
 *   "systick"  SysTick (reload 0xFFFFFF, counting the core clock) extended to 32 bits by its
 *              wrap interrupt. Under `qemu -icount shift=0` on mps2 (25 MHz) one tick is
 *              exactly 40 emulated instructions: these are instruction counts, not cycles.
 *   "timer"    a peripheral timer clocked at the core clock (nRF51 TIMER0 at 16 MHz: the
 *              nRF51 has no SysTick and no DWT). Under -icount shift=0 one tick is 62.5
 *              emulated instructions.
 *   "none"     no counter: tlm_port_cycles() returns 0.
 *
 * A reading is quantized to one tick, and the phase of the first reading is arbitrary, so
 * an interval of N instructions reads as floor(N / k) or floor(N / k) + 1 ticks (k
 * instructions per tick). To get a repeatable figure, wait for the counter to change before
 * the interval starts (see ports/echo_main.c).
 */
#ifndef TLM_PORT_H
#define TLM_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring the board up: clocks, the UART (115200 8N1 where the baud rate matters) and the
 * cycle counter. Ends with one dummy read of the UART data register (drops a stale byte;
 * an early QEMU experiment saw the first byte a second late without it). Call once, before
 * anything else. */
void tlm_port_init(void);

/* Wait for one received byte and return it, 0..255. Blocks forever if none comes. */
int tlm_port_getc(void);

/* 1 if a received byte is waiting (tlm_port_getc() will not block), else 0. */
int tlm_port_poll(void);

/* Send n bytes, waiting while the transmitter is busy. Bytes sent while no host is
 * listening are lost (QEMU drops them when no client is connected to the socket). */
void tlm_port_write(const char *buf, size_t n);

/* The free-running counter named by tlm_port_counter(); 0 when it is "none". */
uint32_t tlm_port_cycles(void);

/* The counter's source: "dwt", "systick", "timer" or "none" (see the top of this file). */
const char *tlm_port_counter(void);

/* End the program with `code`. In a build with TLM_SEMIHOSTING=1 this is a semihosting
 * SYS_EXIT_EXTENDED call: QEMU started with -semihosting-config enable=on exits with `code`
 * as its exit status (without it, or on a board without a debugger, the breakpoint faults
 * and the fault handler spins). Otherwise interrupts are disabled and the core spins. */
void tlm_port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* TLM_PORT_H */
