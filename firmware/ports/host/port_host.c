/* port_host.c: tlm_port.h on a POSIX host: the "serial link" is stdin/stdout (or a pty the
 * host test harness gives the program), so `tlm --serve` speaks the same protocol as a board.
 * No cycle counter: BENCH on the host reports 0 ticks ("none").
 *
 * Output is non-blocking (O_NONBLOCK on stdout, restored at exit): a host that stops reading
 * fills the pty (about 20 KiB: 4 KiB of line discipline plus the pty's own buffers) and then
 * tlm_port_write_some() takes nothing, exactly like a USB CDC port whose host stopped reading.
 * The pty's other side staying open (toolchain/link/hostlink.py keeps a copy) makes a closed
 * client look the same: the program waits for the next one instead of ending.
 *
 * Input is read in chunks into a small buffer. With tlm_host_set_rx_max(n) (`tlm --serve
 * --rx-max N`) the port loses bytes the way a UART with an n-byte receive buffer does when
 * the host sends faster than the firmware reads: of what has arrived by the time the firmware
 * looks, only the first n bytes are kept. Tests use it to check that the host client keeps a
 * 256-byte request within a 63-byte buffer (stm32duino's Serial).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "port_host.h"
#include "tlm_port.h"

static int stdout_flags = -1;       /* stdout's status flags before tlm_port_init, restored at exit */
static uint32_t rx_max;             /* 0, or the emulated receive buffer's size */
static unsigned char rx_buf[4096];  /* (rx_len) bytes read and kept, rx_at the next one */
static size_t rx_len, rx_at;

static void restore_stdout(void) {
    if (stdout_flags >= 0) (void)fcntl(1, F_SETFL, stdout_flags);
}

void tlm_port_init(void) {
    stdout_flags = fcntl(1, F_GETFL);
    if (stdout_flags >= 0 && fcntl(1, F_SETFL, stdout_flags | O_NONBLOCK) == 0) {
        atexit(restore_stdout);
    } else {
        stdout_flags = -1;     /* not a descriptor we can change: writes may block */
    }
}

void tlm_host_set_rx_max(uint32_t bytes) { rx_max = bytes; }

/* Read what has arrived into rx_buf, waiting for it if `wait`; 1 if a byte is there.
 *
 * Host extension: the end of the link ends the program. That is end of input (a pipe's
 * writer closed: read returns 0) or any read error: a pty whose other side closed answers
 * EIO, forever, and retrying it would spin. Only a read interrupted by a signal is retried;
 * one that would block (stdin shares stdout's O_NONBLOCK on a pty) waits in poll(). End of
 * input seen by a poll between tokens waits until the protocol asks for the next byte: requests
 * piped in (`printf 'GEN 60 ...\n' | tlm --serve`) are all answered before the program ends. */
static int at_eof;

static int fill(int wait) {
    if (at_eof && rx_at >= rx_len) {
        if (wait) exit(0);
        return 0;
    }
    while (rx_at >= rx_len) {
        struct pollfd in = {0, POLLIN, 0};
        int ready = poll(&in, 1, wait ? -1 : 0);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return 0;
        ssize_t n = read(0, rx_buf, sizeof rx_buf);
        if (n > 0) {
            size_t keep = (rx_max > 0 && (size_t)n > rx_max) ? rx_max : (size_t)n;
            rx_len = keep;
            rx_at = 0;
        } else if (n == 0) {
            if (wait) exit(0);
            at_eof = 1;
            return 0;
        } else if (errno != EINTR && errno != EAGAIN) {
            exit(0);    /* EIO (pty hung up), EBADF...: the host is gone */
        } else if (!wait) {
            return 0;
        }
    }
    return 1;
}

int tlm_port_getc(void) {
    (void)fill(1);
    return rx_buf[rx_at++];
}

int tlm_port_poll(void) { return fill(0); }

/* No room: wait at most 1 ms for some (so a stalled link does not spin a host CPU), then say 0. */
size_t tlm_port_write_some(const char *buf, size_t n) {
    for (;;) {
        ssize_t w = write(1, buf, n);
        if (w >= 0) return (size_t)w;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) exit(1);   /* EIO, EPIPE: the host went away */
        struct pollfd out = {1, POLLOUT, 0};
        (void)poll(&out, 1, 1);
        return 0;
    }
}

uint32_t tlm_port_millis(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

uint32_t tlm_port_rx_max(void) { return rx_max; }

uint32_t tlm_port_cycles(void) { return 0; }

const char *tlm_port_counter(void) { return "none"; }

void tlm_port_exit(int code) { exit(code); }
