/* tlm_port_arduino.cpp: tlm_port.h over an Arduino core (Nano 33 BLE on the Mbed core, Pico on
 * arduino-pico, NUCLEO-F446RE on STM32duino, ...).
 *
 * Serial: the core's `Serial`, which is the USB CDC port on the Nano 33 BLE and the Pico and
 * the ST-LINK virtual COM port (USART2) on a Nucleo. On USB CDC the baud rate is nominal; a
 * host opening the port at 1200 baud resets the board into its bootloader (the core does
 * that, not this file). No `while (!Serial)`: the host handshakes with INFO when it connects,
 * and nothing is printed before that.
 *
 * Writes never wait (tlm_port_write_some): each core is asked for room first, because a write
 * larger than the room blocks on some of them (sources: arduino/ArduinoCore-mbed 4.6.0,
 * earlephilhower/arduino-pico 5.3.0, stm32duino/Arduino_Core_STM32):
 *   - Mbed (Nano 33 BLE): Serial.write() ends in USBCDC::send(), which waits for the USB
 *     transfer with no timeout: a host that keeps the port open but stops reading hangs the
 *     board. Serial.availableForWrite() is Print's default, 0. So this port writes with
 *     USBCDC::send_nb() (cores/arduino/USB/USBCDC.cpp): it copies what fits in the 64-byte
 *     packet buffer when no transfer is in flight and returns at once, 0 when the terminal
 *     is not connected (DTR low).
 *   - arduino-pico and STM32duino: Serial.availableForWrite() is the TX FIFO's room (TinyUSB
 *     tud_cdc_write_available(), 256 B; HardwareSerial's ring, 64 B), and a write within it
 *     does not wait. arduino-pico's write returns 0 while DTR is low.
 *   - Any other core: Serial.write() as the core does it (it may wait).
 * Input: USB CDC (Mbed, Pico) holds the host back when its receive buffer is full (the OUT
 * endpoint is not re-armed: USBCDC::_receive_isr_start, TinyUSB cdcd), so nothing is lost:
 * rx_max 0. STM32duino's HardwareSerial ring (SERIAL_RX_BUFFER_SIZE, 64 B, one slot kept
 * free) drops what arrives while it is full: rx_max 63.
 *
 * Counter: DWT CYCCNT on ARMv7-M / ARMv7E-M cores (Cortex-M3/M4/M7): core clock cycles,
 * independent of the core's micros() and its timer interrupts. On arduino-pico,
 * rp2040.getCycleCount(): the core's SysTick (counting the CPU clock, extended past 24 bits by
 * its wrap interrupt: cores/rp2040/RP2040Support.h), "systick"; under FreeRTOS or on RISC-V it
 * is a PIO counter at the system clock instead, "timer". Other cores (ARMv6-M without a core
 * counter): "none", tlm_port_cycles() returns 0.
 */
#include <Arduino.h>

#include "tlm_port.h"

#if defined(ARDUINO_ARCH_MBED) && defined(SERIAL_CDC)
#include "USB/PluggableUSBSerial.h"     /* arduino::USBSerial _SerialUSB, behind Serial */
#define TLM_SERIAL_MBED_USB 1
#else
#define TLM_SERIAL_MBED_USB 0
#endif

#if defined(ARDUINO_ARCH_RP2040) || defined(ARDUINO_ARCH_STM32)
#define TLM_SERIAL_HAS_ROOM 1           /* Serial.availableForWrite() is the real room */
#else
#define TLM_SERIAL_HAS_ROOM 0
#endif

#ifndef TLM_SERIAL_BAUD
#define TLM_SERIAL_BAUD 115200      /* matters on a UART (Nucleo VCP), nominal on USB CDC */
#endif

/* ----------------------------------------------------------------------------------------- */
/* Cycle counter: DWT CYCCNT where the core has one (TLM_ names: vendor headers define DWT) */

#if defined(ARDUINO_ARCH_RP2040)
#define TLM_HAVE_DWT 0
#elif defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)
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

extern "C" size_t tlm_port_write_some(const char *buf, size_t n) {
    const uint8_t *bytes = reinterpret_cast<const uint8_t *>(buf);
    size_t took;
#if TLM_SERIAL_MBED_USB
    uint32_t actual = 0;
    _SerialUSB.send_nb(const_cast<uint8_t *>(bytes), static_cast<uint32_t>(n), &actual, true);
    took = actual;
#elif TLM_SERIAL_HAS_ROOM
    const int room = Serial.availableForWrite();
    took = room > 0 ? Serial.write(bytes, n < static_cast<size_t>(room) ? n : static_cast<size_t>(room)) : 0;
#else
    took = Serial.write(bytes, n);
#endif
    if (took == 0) {
        yield();    /* lets cores with cooperative background work (USB, RTOS) make room */
    }
    return took;
}

extern "C" uint32_t tlm_port_millis(void) {
    return static_cast<uint32_t>(millis());
}

extern "C" uint32_t tlm_port_rx_max(void) {
#if TLM_SERIAL_MBED_USB || defined(ARDUINO_ARCH_RP2040)
    return 0u;                          /* USB CDC: the host is held back, nothing is lost */
#elif defined(SERIAL_RX_BUFFER_SIZE)
    return SERIAL_RX_BUFFER_SIZE - 1u;  /* a ring that keeps one slot free (STM32duino, AVR) */
#else
    return 63u;                         /* the common 64-byte ring, when the core does not say */
#endif
}

extern "C" uint32_t tlm_port_cycles(void) {
#if defined(ARDUINO_ARCH_RP2040)
    return rp2040.getCycleCount();
#elif TLM_HAVE_DWT
    return dwt_running ? TLM_DWT_CYCCNT : 0u;
#else
    return 0u;
#endif
}

extern "C" const char *tlm_port_counter(void) {
#if defined(ARDUINO_ARCH_RP2040) && (defined(__riscv) || defined(__FREERTOS) || defined(__PROFILE))
    return "timer";
#elif defined(ARDUINO_ARCH_RP2040)
    return "systick";
#elif TLM_HAVE_DWT
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
