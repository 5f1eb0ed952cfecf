/* tlm_port_arduino.cpp: tlm_port.h over an Arduino core (Nano 33 BLE on the Mbed core, Pico on
 * arduino-pico, NUCLEO-F446RE on STM32duino, ...).
 *
 * Serial: the core's `Serial`, which is the USB CDC port on the Nano 33 BLE and the Pico and
 * the ST-LINK virtual COM port (USART2) on a Nucleo. On USB CDC the baud rate is nominal; a
 * host opening the port at 1200 baud resets the board into its bootloader (the core does
 * that, not this file). No `while (!Serial)`: the host handshakes with INFO when it connects,
 * and nothing is printed before that.
 *
 * Counter: DWT CYCCNT on ARMv7-M / ARMv7E-M cores (Cortex-M3/M4/M7): core clock cycles,
 * independent of the core's micros() and its timer interrupts. Other cores (the Pico's
 * Cortex-M0+, ARMv6-M) have no DWT cycle counter: "none", tlm_port_cycles() returns 0.
 */
#include <Arduino.h>

#include "tlm_port.h"

#ifndef TLM_SERIAL_BAUD
#define TLM_SERIAL_BAUD 115200      /* matters on a UART (Nucleo VCP), nominal on USB CDC */
#endif

#ifndef TLM_WRITE_TIMEOUT_MS
#define TLM_WRITE_TIMEOUT_MS 200u   /* give up on a reply nobody reads (the host went away) */
#endif

/* ----------------------------------------------------------------------------------------- */
/* Cycle counter: DWT CYCCNT where the core has one (TLM_ names: vendor headers define DWT) */

#if defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)
#define TLM_HAVE_DWT 1

#define TLM_REG(addr) (*(volatile uint32_t *)(addr))
#define TLM_DEMCR TLM_REG(0xE000EDFCu)          /* debug exception and monitor control */
#define TLM_DEMCR_TRCENA (1u << 24)             /* enables the DWT and ITM blocks */
#define TLM_DWT_CTRL TLM_REG(0xE0001000u)
#define TLM_DWT_CTRL_CYCCNTENA (1u << 0)
#define TLM_DWT_CTRL_NOCYCCNT (1u << 25)        /* set when the cycle counter is not implemented */
#define TLM_DWT_CYCCNT TLM_REG(0xE0001004u)
#define TLM_DWT_LAR TLM_REG(0xE0001FB0u)        /* lock access: the M7 needs the key */
#define TLM_DWT_LAR_KEY 0xC5ACCE55u

static bool dwt_running = false;

/* 1 if CYCCNT exists and advances once enabled. */
static bool dwt_start(void) {
    TLM_DEMCR |= TLM_DEMCR_TRCENA;
    TLM_DWT_LAR = TLM_DWT_LAR_KEY;
    if (TLM_DWT_CTRL & TLM_DWT_CTRL_NOCYCCNT) {
        return false;
    }
    TLM_DWT_CYCCNT = 0;
    TLM_DWT_CTRL |= TLM_DWT_CTRL_CYCCNTENA;
    const uint32_t before = TLM_DWT_CYCCNT;
    __asm__ volatile("nop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop");
    return TLM_DWT_CYCCNT != before;
}
#else
#define TLM_HAVE_DWT 0
#endif

/* ----------------------------------------------------------------------------------------- */
/* tlm_port.h                                                                                 */

extern "C" void tlm_port_init(void) {
    Serial.begin(TLM_SERIAL_BAUD);
#if TLM_HAVE_DWT
    dwt_running = dwt_start();
#endif
}

extern "C" int tlm_port_getc(void) {
    for (;;) {
        const int c = Serial.read();
        if (c >= 0) {
            return c & 0xFF;
        }
        yield();    /* lets cores with cooperative background work (USB, RTOS) run */
    }
}

extern "C" int tlm_port_poll(void) {
    return Serial.available() > 0 ? 1 : 0;
}

/* Blocks while the core's transmit buffer is full; drops the rest of a reply when no byte
 * has gone out for TLM_WRITE_TIMEOUT_MS (a USB host that stopped reading). */
extern "C" void tlm_port_write(const char *buf, size_t n) {
    uint32_t last = millis();
    while (n > 0) {
        const size_t sent = Serial.write(reinterpret_cast<const uint8_t *>(buf), n);
        if (sent > 0) {
            buf += sent;
            n -= sent;
            last = millis();
        } else if (static_cast<uint32_t>(millis() - last) > TLM_WRITE_TIMEOUT_MS) {
            return;
        } else {
            yield();
        }
    }
}

extern "C" uint32_t tlm_port_cycles(void) {
#if TLM_HAVE_DWT
    return dwt_running ? TLM_DWT_CYCCNT : 0u;
#else
    return 0u;
#endif
}

extern "C" const char *tlm_port_counter(void) {
#if TLM_HAVE_DWT
    return dwt_running ? "dwt" : "none";
#else
    return "none";
#endif
}

/* No semihosting on a board without a debugger: flush what is queued and spin. Interrupts stay
 * on so the USB port stays enumerated and the host sees a quiet device, not a vanished one. */
extern "C" void tlm_port_exit(int code) {
    (void)code;
    Serial.flush();
    for (;;) {
        yield();
    }
}
