/* cmd_harness_main.c: a test program for tlm_command_parse (tests/test_commands_c.py), not
 * product code. Built with a generated tlm_commands.c for the host port (stdin/stdout) and for
 * the bare-metal ports (the UART), it answers every line it reads with one line:
 *
 *   <status> <intent> <error_at> <slot> <slot> ...      a slot: "-" absent, "L<index>:<text>"
 *                                                       (list) or "N<value>" (numbers)
 *
 * and two lines of its own: "!args" answers the statuses of the NULL-argument calls, "!status"
 * every status's text, '|'-separated. "END" answers "END". Lines end at LF; a line over
 * LINE_MAX bytes is answered for its first LINE_MAX bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tlm_commands.h"
#include "tlm_port.h"
#include "harness_put.h"

#define LINE_MAX 512

static void put_str(const char *s) {
    tlm_port_write(s, strlen(s));
}

static void answer(const char *line, size_t len) {
    TlmCommand cmd;
    TlmCommandStatus st = tlm_command_parse(line, len, &cmd);
    int32_t s;
    harness_put_int((int32_t)st);
    put_str(" ");
    harness_put_int(cmd.intent);
    put_str(" ");
    harness_put_int((int32_t)cmd.error_at);
    for (s = 0; s < cmd.n_slots; s++) {
        const TlmSlotValue *v = &cmd.slots[s];
        if (!v->present) {
            put_str(" -");
        } else if (v->text != NULL) {
            put_str(" L");
            harness_put_int(v->value);
            put_str(":");
            put_str(v->text);
        } else {
            put_str(" N");
            harness_put_int(v->value);
        }
    }
    put_str("\n");
}

static void null_arguments(void) {
    TlmCommand cmd;
    harness_put_int((int32_t)tlm_grammar_parse(NULL, "x", 1, &cmd));
    put_str(" ");
    harness_put_int((int32_t)tlm_grammar_parse(&tlm_grammar, NULL, 1, &cmd));
    put_str(" ");
    harness_put_int((int32_t)tlm_grammar_parse(&tlm_grammar, "x", 1, NULL));
    put_str(" ");
    harness_put_int(cmd.intent);
    put_str("\n");
}

static void status_texts(void) {
    int32_t st;
    for (st = 0; st <= (int32_t)TLM_COMMAND_ERR_EXTRA; st++) {
        put_str(st ? "|" : "");
        put_str(tlm_command_status_text((TlmCommandStatus)st));
    }
    put_str("\n");
}

int main(void) {
    static char line[LINE_MAX];
    size_t len = 0;
    tlm_port_init();
    for (;;) {
        int c = tlm_port_getc();
        if (c != '\n') {
            if (len < LINE_MAX) {
                line[len++] = (char)c;
            }
            continue;
        }
        if (len == 3 && memcmp(line, "END", 3) == 0) {
            put_str("END\n");
        } else if (len == 5 && memcmp(line, "!args", 5) == 0) {
            null_arguments();
        } else if (len == 7 && memcmp(line, "!status", 7) == 0) {
            status_texts();
        } else {
            answer(line, len);
        }
        len = 0;
    }
}
