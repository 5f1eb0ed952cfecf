/* tlm_port.h: what the portable runtime needs from a board, and nothing more.
 *
 * One implementation per platform lives in firmware/ports/<port>/ (host, mps2, microbit,
 * arduino). The serial link is a byte pipe: a UART or USB CDC port on a real board (reached as
 * /dev/ttyACM0 or similar), QEMU's emulated UART on a loopback TCP socket (reached by pyserial
 * as socket://127.0.0.1:PORT), or a pty of the host build. All calls are polled: no interrupts
 * are used for the UART, so the runtime's timing is the same whether or not a host is connected.
 *
 *     tlm_port_init();
 *     for (;;) {
 *         int c = tlm_port_getc();
 *         ...
 *         tlm_port_write("OK\n", 3);
 *     }
 *
 * Output never blocks for long. tlm_port_write_some() takes only what the transmitter has room
 * for now and returns at once; tlm_port_write() (below) waits for room, but gives up after
 * TLM_WRITE_TIMEOUT_MS without progress. The serial protocol buffers its replies and decides
 * when the link is down from those two calls (tlm_protocol.c, "Output"; docs/protocol.md, "The
 * link"): a host that closed the port or stopped reading costs the device one timeout, not one
 * per write.
 *
 * Timing: tlm_port_cycles() is a free-running 32-bit counter; subtract two readings as
 * uint32_t to get the ticks between them (wraps after 2^32 ticks: 171 s at 25 MHz).
 * tlm_port_counter() names its source so the host can interpret the numbers:
 *
 *   "dwt"      DWT CYCCNT: core clock cycles (real Cortex-M3/M4/M7 silicon).
 *   "systick"  SysTick (reload 0xFFFFFF, counting the core clock) extended to 32 bits by its
 *              wrap interrupt. Under `qemu -icount shift=0` on mps2 (25 MHz) one tick is
 *              exactly 40 emulated instructions: these are instruction counts, not cycles.
 *              The Pico's rp2040.getCycleCount() is this too (arduino-pico, RP2040Support.h).
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

/* Hand the transmitter up to n bytes without waiting: returns how many it took now, 0 if it
 * has no room (a UART still sending, a USB host that stopped reading or closed the port, a
 * full pty). Never blocks. Bytes taken while no host is listening may be lost (QEMU drops
 * them when no client is connected to its socket). */
size_t tlm_port_write_some(const char *buf, size_t n);

/* A free-running millisecond clock (wraps after 2^32 ms), for timing waits only. Bare-metal
 * ports derive it from tlm_port_cycles(), updating it on each call, so it is exact when read
 * at least once per counter wrap (171 s on mps2) -- as every wait loop does. Under QEMU
 * -icount shift=0 it is virtual time: one millisecond is a million emulated instructions. */
uint32_t tlm_port_millis(void);

/* The most bytes the host may send ahead of the firmware reading them without any being
 * lost, or 0 when the link holds the sender back instead (USB CDC, QEMU's UARTs, a pty: they
 * lose nothing). INFO reports it as rx_max; the host client writes long request lines in
 * pieces no larger (docs/protocol.md, "The link"). */
uint32_t tlm_port_rx_max(void);

#ifndef TLM_WRITE_TIMEOUT_MS
#define TLM_WRITE_TIMEOUT_MS 200u   /* no progress for this long: the host is gone or not reading */
#endif

/* Send n bytes, waiting while the transmitter has no room, but at most TLM_WRITE_TIMEOUT_MS
 * without progress; the rest is dropped then. Returns how many were sent. For small programs
 * (test harnesses, an error message at start-up); the protocol buffers its output instead. */
static inline size_t tlm_port_write(const char *buf, size_t n) {
    size_t sent = 0;
    uint32_t since = tlm_port_millis();
    while (sent < n) {
        size_t took = tlm_port_write_some(buf + sent, n - sent);
        if (took > 0) {
            sent += took;
            since = tlm_port_millis();
        } else if ((uint32_t)(tlm_port_millis() - since) >= TLM_WRITE_TIMEOUT_MS) {
            break;
        }
    }
    return sent;
}

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
