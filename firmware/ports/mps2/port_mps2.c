/* port_mps2.c: tlm_port.h for QEMU's mps2-an386 (Cortex-M4F, 25 MHz).
 *
 * Serial: UART0, an ARM CMSDK APB UART at 0x40004000 (QEMU hw/arm/mps2.c; registers as in
 * ARM DDI0479 and QEMU hw/char/cmsdk-apb-uart.c). It has a one-byte buffer each way; QEMU
 * hands it the next received byte only after the data register has been read, so bytes are
 * never overrun, and with the socket chardev they are paced by QEMU's main loop (~30 KiB/s
 * measured host to device). QEMU wires UART0 to the first -serial option.
 *
 * What QEMU 7.2 does with the bytes the firmware sends (hw/char/cmsdk-apb-uart.c
 * uart_transmit(), chardev/char-socket.c tcp_chr_write(), chardev/char-pty.c): a byte written
 * to DATA sets TXFULL and goes to the chardev at once. If the chardev takes it, TXFULL clears
 * before the next instruction. If it cannot take it now (a socket or pty whose reader is not
 * reading: EAGAIN), TXFULL stays set until the backend is writable again: the one case where
 * tlm_port_write_some() reports no room. If there is no reader at all (no client on the
 * socket, nobody holding the pty), the byte is dropped at once and TXFULL clears: the firmware
 * cannot tell a vanished host from a fast one. On the socket, a client that stays connected
 * but stops reading is absorbed by the kernel's buffers first (QEMU's send buffer grows up to
 * net.ipv4.tcp_wmem's 4 MiB: no GEN output ever fills it); on a pty (qemu.start(serial="pty"))
 * room runs out after some 20-24 KB (the pty's 4 KiB line discipline and its buffers), as on a
 * USB CDC port.
 *
 * Counter: DWT CYCCNT where it counts (real silicon). QEMU does not model the DWT (its
 * registers read as zero), so the probe in counter_init() falls back to SysTick: reload
 * 0xFFFFFF, clocked by the core clock (CLKSOURCE = 1, 25 MHz on mps2), its wrap interrupt
 * counting the upper bits. Under `-icount shift=0` one emulated instruction takes 1 ns of
 * virtual time, so one 25 MHz tick is exactly 40 instructions.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "tlm_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* ----------------------------------------------------------------------------------------- */
/* UART0: CMSDK APB UART                                                                      */

#define UART0_BASE 0x40004000u
#define UART_DATA REG(UART0_BASE + 0x00)       /* read: received byte; write: send a byte */
#define UART_STATE REG(UART0_BASE + 0x04)      /* bit 0 TX full, 1 RX full, 2/3 overruns (W1C) */
#define UART_CTRL REG(UART0_BASE + 0x08)       /* bit 0 TX enable, 1 RX enable, 2.. interrupts */
#define UART_INTSTATUS REG(UART0_BASE + 0x0C)  /* W1C */
#define UART_BAUDDIV REG(UART0_BASE + 0x10)    /* PCLK / baud, at least 16 */

#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define STATE_OVERRUNS (3u << 2)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

#define PCLK_HZ 25000000u   /* mps2 SYSCLK, which also clocks the APB peripherals */
#define BAUD 115200u

static void uart_init(void) {
    UART_CTRL = 0;
    UART_BAUDDIV = PCLK_HZ / BAUD;      /* 217: QEMU ignores the rate, real hardware does not */
    UART_STATE = STATE_OVERRUNS;        /* clear stale overrun flags */
    UART_INTSTATUS = 0xFu;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;    /* polled: no UART interrupts */
    (void)UART_DATA;    /* drop a stale byte; DESIGN.md saw the first byte ~1 s late without */
}

int tlm_port_getc(void) {
    while (!(UART_STATE & STATE_RXFULL)) {
    }
    return (int)(UART_DATA & 0xFFu);
}

int tlm_port_poll(void) {
    return (UART_STATE & STATE_RXFULL) ? 1 : 0;
}

/* With no room, pause before saying so instead of polling the UART flat out: briefly for the
 * first TLM_BACKOFF_SHORT_TRIES answers in a row (~300 instructions each: 16 of them outlast the 87 us a
 * byte takes at 115200 baud on real hardware, so a UART that is merely busy never gets further),
 * then ~15,000 instructions (0.6 ms at 25 MHz) a time. Under `-icount` the virtual clock (the
 * SysTick, tlm_port_millis) advances only with executed instructions, and code that reads a
 * device register every few instructions runs slowly in QEMU: polled flat out, a stalled link
 * advanced the device's clock by ~45 ms per second of QEMU CPU time, so the 200 ms write
 * timeout took ~4 CPU seconds; with the pauses, ~580 ms per CPU second (0.35 s for the timeout;
 * measured with a pty reader that stopped reading, tests/test_link_robust.py). */
#ifndef TX_SHORT_LOOPS
#define TX_SHORT_LOOPS 100u
#endif
#ifndef TX_LONG_LOOPS
#define TX_LONG_LOOPS 5000u
#endif

static uint32_t tx_no_room;         /* no-room answers in a row */

size_t tlm_port_write_some(const char *buf, size_t n) {
    size_t i;
    for (i = 0; i < n && !(UART_STATE & STATE_TXFULL); i++) {
        UART_DATA = (uint8_t)buf[i];
    }
    return tlm_cortex_m_wrote(i, n, &tx_no_room, TX_SHORT_LOOPS, TX_LONG_LOOPS);
}

/* The UART's receive side is one data register, but QEMU hands it the next byte only once the
 * firmware has read it (the chardev's can_receive): the host is held back, nothing is lost. */
uint32_t tlm_port_rx_max(void) {
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Cycle counter: DWT CYCCNT, else SysTick extended to 32 bits                                */

#define DEMCR REG(0xE000EDFCu)          /* debug exception and monitor control */
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_CTRL_NOCYCCNT (1u << 25)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)        /* lock access (Cortex-M7; ignored elsewhere) */

#define SYST_CSR REG(0xE000E010u)       /* control and status */
#define SYST_RVR REG(0xE000E014u)       /* reload value */
#define SYST_CVR REG(0xE000E018u)       /* current value, counts down */
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)    /* 1: the core clock */
#define SYST_RELOAD 0xFFFFFFu
#define SCB_ICSR REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)       /* SysTick interrupt pending */
#define ICSR_PENDSTCLR (1u << 25)

enum { COUNTER_NONE, COUNTER_DWT, COUNTER_SYSTICK };

static uint8_t counter_kind = COUNTER_NONE;
static volatile uint32_t systick_wraps;    /* SysTick periods (2^24 ticks) completed */

void SysTick_Handler(void) {
    systick_wraps++;
}

/* 1 if DWT CYCCNT exists and advances. QEMU answers every DWT register with 0. */
static int dwt_start(void) {
    uint32_t before;
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = 0xC5ACCE55u;
    if (DWT_CTRL & DWT_CTRL_NOCYCCNT) {
        return 0;
    }
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    before = DWT_CYCCNT;
    __asm__ volatile("nop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop");
    return DWT_CYCCNT != before;
}

static void counter_init(void) {
    if (dwt_start()) {
        counter_kind = COUNTER_DWT;
        return;
    }
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;       /* any write clears it; the count restarts from the reload value */
    systick_wraps = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    counter_kind = COUNTER_SYSTICK;
}

/* (wraps << 24) + ticks since the last wrap, read without a race.
 *
 * SysTick counts RELOAD, RELOAD-1, .., 1, 0, RELOAD, ..; the wrap interrupt is raised as the
 * count reaches 0, so with `wraps` bumped there the ticks since the wrap are
 * (2^24 - val) mod 2^24 (0 at val == 0, 1 at RELOAD). If the interrupt ran between the two
 * reads of systick_wraps, read again. If the count has wrapped but the interrupt has not
 * run yet (interrupts masked), the pending bit says so: then the wrap came before the read
 * of val if val is 0 or in the upper half of the range (just reloaded), and after it if
 * val is small. */
static uint32_t systick_now(void) {
    for (;;) {
        uint32_t hi = systick_wraps;
        uint32_t val = SYST_CVR;
        uint32_t pending = SCB_ICSR & ICSR_PENDSTSET;
        if (hi == systick_wraps) {
            if (pending && (val == 0 || val > (SYST_RELOAD >> 1))) {
                hi++;
            }
            return (hi << 24) + ((SYST_RELOAD + 1u - val) & SYST_RELOAD);
        }
    }
}

uint32_t tlm_port_cycles(void) {
    if (counter_kind == COUNTER_SYSTICK) {
        return systick_now();
    }
    if (counter_kind == COUNTER_DWT) {
        return DWT_CYCCNT;
    }
    return 0;
}

/* Milliseconds from the counter (DWT or SysTick, both at the 25 MHz core clock), counted by the
 * shared start-up (cortex_m.h). */
#define TICKS_PER_MS (PCLK_HZ / 1000u)

uint32_t tlm_port_millis(void) {
    return tlm_cortex_m_millis(TICKS_PER_MS);
}

const char *tlm_port_counter(void) {
    switch (counter_kind) {
    case COUNTER_DWT: return "dwt";
    case COUNTER_SYSTICK: return "systick";
    default: return "none";
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Init and exit                                                                              */

void tlm_port_init(void) {
    /* Clocks: the FPGA's 25 MHz SYSCLK is fixed; nothing to set. */
    counter_init();
    uart_init();
}

void tlm_port_exit(int code) {
    /* Stop the SysTick: a wrap left pending under PRIMASK would end every wfi at once. */
    SYST_CSR = 0;
    SCB_ICSR = ICSR_PENDSTCLR;
    tlm_cortex_m_exit(code);
}
