/* port_host.c: tlm_port.h on a POSIX host: the "serial link" is stdin/stdout (or a pty the
 * host test harness gives the program), so `tlm --serve` speaks the same protocol as a board.
 * No cycle counter: BENCH on the host reports 0 ticks ("none"). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "tlm_port.h"

void tlm_port_init(void) {}

/* Host extension: the end of the link ends the program. That is end of input (a pipe's
 * writer closed: read returns 0) or any read error: a pty whose other side closed answers
 * EIO, forever, and retrying it would spin. Only a read interrupted by a signal is retried. */
int tlm_port_getc(void) {
    unsigned char c;
    for (;;) {
        ssize_t n = read(0, &c, 1);
        if (n == 1) return c;
        if (n == 0) exit(0);
        if (errno != EINTR) exit(0);   /* EIO (pty hung up), EBADF...: the host is gone */
    }
}

int tlm_port_poll(void) { return 0; }

void tlm_port_write(const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(1);   /* the host went away */
        buf += w;
        n -= (size_t)w;
    }
}

uint32_t tlm_port_cycles(void) { return 0; }

const char *tlm_port_counter(void) { return "none"; }

void tlm_port_exit(int code) { exit(code); }
