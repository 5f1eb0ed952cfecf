/* baremetal_main.c: the firmware of the bare-metal ports (mps2, microbit): the model, the
 * runtime and the serial protocol on the port's UART, forever.
 *
 * Memory is all static: the arena (TLM_ARENA_BYTES, from the generated tlm_config.h) and the
 * protocol's line buffer sit in .bss, so the link map shows every byte of RAM the firmware
 * uses, and a model that does not fit fails at link time, not at run time.
 */
#include <stdint.h>

#include "model_data.h"
#include "tlm_config.h"
#include "tlm_port.h"
#include "tlm_protocol.h"
#include "tlm_runtime.h"

#ifndef TLM_FLASH_ORIGIN
#define TLM_FLASH_ORIGIN 0u   /* both emulated boards execute from flash at address 0 */
#endif

/* From the port's linker script. */
extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_end__[];

static uint32_t arena[(TLM_ARENA_BYTES + 3) / 4];
static TlmProtocol proto;
static Tlm tlm;

int main(void) {
    TlmDeviceInfo info;
    uint32_t data_bytes = (uint32_t)((uintptr_t)__data_end__ - (uintptr_t)__data_start__);

    info.board = TLM_BOARD;
    info.flash_bytes = (uint32_t)((uintptr_t)__data_load__ - TLM_FLASH_ORIGIN) + data_bytes;
    info.ram_bytes = (uint32_t)((uintptr_t)__bss_end__ - (uintptr_t)__data_start__);
    tlm_port_init();
    if (tlm_init(&tlm, &tlm_model, arena, sizeof arena) != TLM_OK) {
        static const char msg[] = "ERR model tlm_init failed: arena or model tables inconsistent\n";
        for (;;) {
            tlm_port_write(msg, sizeof msg - 1);   /* say so to whoever connects, forever */
            (void)tlm_port_getc();
        }
    }
    tlm_protocol_init(&proto, &tlm, &info);
    for (;;) {
        tlm_protocol_feed(&proto, tlm_port_getc());
    }
}
