/* port_microbit.c: tlm_port.h for QEMU's microbit (BBC micro:bit v1, nRF51822, Cortex-M0,
 * 16 MHz). Runs code built for -mcpu=cortex-m0plus (ARMv6-M either way).
 *
 * Serial: the nRF51 UART at 0x40002000 (QEMU hw/char/nrf51_uart.c; registers as in the nRF51
 * Series Reference Manual, chapter "UART"), on pins P0.24 (TX) and P0.25 (RX), which the
 * micro:bit routes to its USB interface chip. Tasks and events, not a status register: a
 * received byte raises EVENTS_RXDRDY, a sent one EVENTS_TXDRDY. QEMU keeps a 6-byte receive
 * FIFO and wires the UART to the first -serial option.
 *
 * Counter: the nRF51 has neither DWT CYCCNT nor SysTick (the Cortex-M0 was configured
 * without it; QEMU's model has a SysTick anyway, see nrf51_soc.c, but real chips do not).
 * So the counter is TIMER0 in 32-bit timer mode with prescaler 0, counting the 16 MHz
 * HFCLK, read through a capture task. It wraps after 268 s and needs no interrupt. Under
 * `-icount shift=0` one tick is 62.5 emulated instructions.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "tlm_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* ----------------------------------------------------------------------------------------- */
/* Clock: run HFCLK from the 16 MHz crystal (accurate baud rate and timer)                    */

#define CLOCK_BASE 0x40000000u
#define CLOCK_TASKS_HFCLKSTART REG(CLOCK_BASE + 0x000)
#define CLOCK_EVENTS_HFCLKSTARTED REG(CLOCK_BASE + 0x100)

static void clock_init(void) {
    /* QEMU models the CLOCK block as a stub whose registers all read 1: no wait there. */
    CLOCK_EVENTS_HFCLKSTARTED = 0;
    CLOCK_TASKS_HFCLKSTART = 1;
    while (CLOCK_EVENTS_HFCLKSTARTED == 0) {
    }
}

/* ----------------------------------------------------------------------------------------- */
/* UART                                                                                       */

#define UART_BASE 0x40002000u
#define UART_TASKS_STARTRX REG(UART_BASE + 0x000)
#define UART_TASKS_STARTTX REG(UART_BASE + 0x008)
#define UART_EVENTS_RXDRDY REG(UART_BASE + 0x108)
#define UART_EVENTS_TXDRDY REG(UART_BASE + 0x11C)
#define UART_EVENTS_ERROR REG(UART_BASE + 0x124)
#define UART_INTENCLR REG(UART_BASE + 0x308)
#define UART_ERRORSRC REG(UART_BASE + 0x480)  /* write 1 to clear */
#define UART_ENABLE REG(UART_BASE + 0x500)
#define UART_PSELRTS REG(UART_BASE + 0x508)
#define UART_PSELTXD REG(UART_BASE + 0x50C)
#define UART_PSELCTS REG(UART_BASE + 0x510)
#define UART_PSELRXD REG(UART_BASE + 0x514)
#define UART_RXD REG(UART_BASE + 0x518)
#define UART_TXD REG(UART_BASE + 0x51C)
#define UART_BAUDRATE REG(UART_BASE + 0x524)
#define UART_CONFIG REG(UART_BASE + 0x56C)

#define UART_ENABLE_ON 4u
#define BAUD_115200 0x01D7E000u
#define PIN_DISCONNECTED 0xFFFFFFFFu
#define MICROBIT_TX_PIN 24u
#define MICROBIT_RX_PIN 25u

static void uart_init(void) {
    UART_PSELTXD = MICROBIT_TX_PIN;
    UART_PSELRXD = MICROBIT_RX_PIN;
    UART_PSELRTS = PIN_DISCONNECTED;
    UART_PSELCTS = PIN_DISCONNECTED;
    UART_BAUDRATE = BAUD_115200;
    UART_CONFIG = 0;            /* no parity, no hardware flow control */
    UART_INTENCLR = 0xFFFFFFFFu;    /* polled */
    UART_ENABLE = UART_ENABLE_ON;   /* QEMU ignores every other register until this */
    UART_ERRORSRC = 0xFFFFFFFFu;
    UART_EVENTS_ERROR = 0;
    UART_EVENTS_RXDRDY = 0;
    UART_EVENTS_TXDRDY = 0;
    UART_TASKS_STARTTX = 1;
    UART_TASKS_STARTRX = 1;
    (void)UART_RXD;     /* the port contract's dummy read; harmless with nothing received */
}

int tlm_port_getc(void) {
    while (UART_EVENTS_RXDRDY == 0) {
    }
    /* Clear the event before reading: reading RXD moves the next FIFO byte in and raises
     * the event again, which must not be lost. */
    UART_EVENTS_RXDRDY = 0;
    return (int)(UART_RXD & 0xFFu);
}

int tlm_port_poll(void) {
    return UART_EVENTS_RXDRDY != 0;
}

/* The UART drops a byte written before the previous one is out (QEMU does too), so a byte
 * goes to TXD only once TXDRDY says the one before it has left. QEMU (hw/char/nrf51_uart.c)
 * raises TXDRDY as soon as its chardev takes the byte; when the chardev cannot (a reader that
 * stopped reading) TXDRDY stays 0 and this reports no room, as on mps2 (port_mps2.c). */
static int tx_busy;                 /* 1 while a byte written to TXD has not raised TXDRDY */

/* With no room, pause before saying so, briefly at first, then longer (as port_mps2.c does,
 * which says why: under `-icount` a tight poll of a UART register is slow in real time and
 * barely advances the virtual clock). 16 short pauses outlast a byte's 87 us at 115200 baud. */
#ifndef TX_SHORT_LOOPS
#define TX_SHORT_LOOPS 60u
#endif
#ifndef TX_LONG_LOOPS
#define TX_LONG_LOOPS 3000u
#endif

static uint32_t tx_no_room;         /* no-room answers in a row */

size_t tlm_port_write_some(const char *buf, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (tx_busy && UART_EVENTS_TXDRDY == 0) {
            break;
        }
        UART_EVENTS_TXDRDY = 0;
        UART_TXD = (uint8_t)buf[i];
        tx_busy = 1;
    }
    return tlm_cortex_m_wrote(i, n, &tx_no_room, TX_SHORT_LOOPS, TX_LONG_LOOPS);
}

/* QEMU's 6-byte receive FIFO takes a byte only when it has room (the chardev's can_receive):
 * the host is held back, nothing is lost. */
uint32_t tlm_port_rx_max(void) {
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Cycle counter: TIMER0, 32 bits at 16 MHz                                                   */

#define TIMER0_BASE 0x40008000u
#define TIMER_TASKS_START REG(TIMER0_BASE + 0x000)
#define TIMER_TASKS_STOP REG(TIMER0_BASE + 0x004)
#define TIMER_TASKS_CLEAR REG(TIMER0_BASE + 0x00C)
#define TIMER_TASKS_CAPTURE0 REG(TIMER0_BASE + 0x040)
#define TIMER_INTENCLR REG(TIMER0_BASE + 0x308)
#define TIMER_MODE REG(TIMER0_BASE + 0x504)
#define TIMER_BITMODE REG(TIMER0_BASE + 0x508)
#define TIMER_PRESCALER REG(TIMER0_BASE + 0x510)
#define TIMER_CC0 REG(TIMER0_BASE + 0x540)

#define TIMER_MODE_TIMER 0u
#define TIMER_BITMODE_32 3u   /* TIMER0 is the only nRF51 timer with a 32-bit mode */

static void counter_init(void) {
    TIMER_TASKS_STOP = 1;
    TIMER_INTENCLR = 0xFFFFFFFFu;
    TIMER_MODE = TIMER_MODE_TIMER;
    TIMER_BITMODE = TIMER_BITMODE_32;
    TIMER_PRESCALER = 0;    /* 16 MHz / 2^0 */
    TIMER_TASKS_CLEAR = 1;
    TIMER_TASKS_START = 1;
}

uint32_t tlm_port_cycles(void) {
    TIMER_TASKS_CAPTURE0 = 1;
    return TIMER_CC0;
}

const char *tlm_port_counter(void) {
    return "timer";
}

/* Milliseconds from TIMER0 (16 MHz), counted by the shared start-up (cortex_m.h). */
#define TICKS_PER_MS 16000u

uint32_t tlm_port_millis(void) {
    return tlm_cortex_m_millis(TICKS_PER_MS);
}

/* ----------------------------------------------------------------------------------------- */
/* Init and exit                                                                              */

void tlm_port_init(void) {
    clock_init();
    counter_init();
    uart_init();
}

void tlm_port_exit(int code) {
    tlm_cortex_m_exit(code);    /* TIMER0 raises no interrupt: nothing to stop first */
}
