/* port_host.h: what the host port offers its main (main.c) beyond tlm_port.h. */
#ifndef TLM_PORT_HOST_H
#define TLM_PORT_HOST_H

#include <stdint.h>

/* Emulate a receive buffer of `bytes` that loses what does not fit (0: lose nothing, the
 * default; a pty or a pipe holds the sender back). tlm_port_rx_max() reports it. */
void tlm_host_set_rx_max(uint32_t bytes);

#endif /* TLM_PORT_HOST_H */
