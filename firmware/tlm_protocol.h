/* tlm_protocol.h: the device side of the tlmc serial protocol, version 1 (docs/protocol.md).
 *
 * Bytes in, one at a time, from whatever the port reads (UART, USB CDC, a socket, stdin);
 * replies out through a small buffer, a line at a time, with tlm_port_write_some(). The
 * parser owns its line buffer and its output buffer and nothing else: no malloc, no globals.
 * A line too long, an unknown command, a bad number or binary garbage gets an ERR reply and
 * the device goes on.
 *
 *     static TlmProtocol proto;
 *     tlm_protocol_init(&proto, &tlm, &info);
 *     for (;;) tlm_protocol_feed(&proto, tlm_port_getc());
 *
 * While GEN or CMD generates, the protocol itself reads what the host sends meanwhile
 * (tlm_port_poll(), tlm_port_getc()) between tokens: a blank line stops the request, any
 * other line waits its turn in the line buffer. A write that makes no progress for
 * TLM_WRITE_TIMEOUT_MS marks the link down: output is then dropped, not waited for, until a
 * byte comes in, and a running GEN or CMD stops (docs/protocol.md, "The link").
 */
#ifndef TLM_PROTOCOL_H
#define TLM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "tlm_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLM_PROTOCOL_VERSION 1

#ifndef TLM_LINE_MAX
#define TLM_LINE_MAX 256            /* bytes of a request line, terminator excluded */
#endif

/* What INFO reports besides the model's own figures; filled in by the port's main. */
typedef struct {
    const char *board;              /* board id from boards/<id>.toml */
    uint32_t flash_bytes;           /* firmware flash use, 0 if the port cannot tell */
    uint32_t ram_bytes;             /* static RAM use (data + bss), 0 if unknown */
} TlmDeviceInfo;

#ifndef TLM_OUT_BYTES
#define TLM_OUT_BYTES 64            /* reply bytes buffered per write: one full-speed USB packet */
#endif

/* The reply being written: whole lines go to the port in one tlm_port_write_some() loop. */
typedef struct {
    char buf[TLM_OUT_BYTES];        /* (len) bytes not handed to the port yet */
    uint32_t len;
    int link_down;                  /* 1 after a write timed out, until a byte is received */
    uint32_t timeouts;              /* writes that timed out since start (INFO link_timeouts) */
} TlmOut;

typedef struct {
    Tlm *tlm;                       /* the model's run state */
    const TlmDeviceInfo *info;
    char line[TLM_LINE_MAX + 1];    /* (TLM_LINE_MAX) the request being read, NUL-terminated */
    uint32_t len;                   /* bytes in line */
    int overflow;                   /* 1 while discarding the rest of a too-long line */
    int last_cr;                    /* 1 if the previous byte was CR (CR LF is one line end) */
    int ahead;                      /* 1 if line holds a whole line read during GEN/CMD, not run yet */
    int stop;                       /* why the running GEN/CMD stopped early (tlm_protocol.c) */
    TlmOut out;
} TlmProtocol;

void tlm_protocol_init(TlmProtocol *p, Tlm *tlm, const TlmDeviceInfo *info);

/* Feed one received byte; a complete line is executed and answered before this returns (and
 * so is a line that came in while it ran). Any byte marks the link up again. */
void tlm_protocol_feed(TlmProtocol *p, int byte);

/* Execute one request line (no terminator) and write its reply: for tests and ports that
 * assemble lines themselves. */
void tlm_protocol_execute(TlmProtocol *p, char *line, size_t len);

/* Empty markers BENCH (PUSH) calls right before its first step (push) and after its last:
 * an emulator plugin counts the instructions between them (bench/qemu_plugin/tlm_count.c). */
void tlm_bench_begin(void);
void tlm_bench_end(void);

#ifdef __cplusplus
}
#endif

#endif /* TLM_PROTOCOL_H */
