/* harness_put.h: decimal output for the test programs tests/cmd_harness_main.c and
 * fc_harness_main.c, not product code. Each includes it, so each stays one C file plus its
 * generated sources. */
#ifndef HARNESS_PUT_H
#define HARNESS_PUT_H

#include <stddef.h>
#include <stdint.h>

#include "tlm_port.h"

/* v in decimal, '-' first when negative; INT32_MIN included. */
static void harness_put_int(int32_t v) {
    char buf[11];
    int i = 11;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    do {
        buf[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        buf[--i] = '-';
    }
    tlm_port_write(buf + i, (size_t)(11 - i));
}

#endif
