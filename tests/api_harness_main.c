/* api_harness_main.c: firmware/tlm_api.h driven from stdin, one request per line, for
 * tests/test_arduino_lib.py. Linked with a generated model, the runtime and tlm_api.c.
 *
 *   C max seed temp_milli top_k stop_at_newline stop_after PROMPT
 *       tlm_api_complete; stop_after > 0: the callback stops after that many tokens
 *       -> "C status n id id ... | hex of the texts"
 *   M UTTERANCE   tlm_api_command  -> "M status n complete hex-of-text"
 *   P TEXT        tlm_api_parse    -> "P status intent name n_slots slot..." (slot: -, Lvalue:text
 *                 or Nvalue), "P status" when refused
 *
 * The text after the fields runs to the end of the line (it may hold spaces); hex keeps any
 * byte exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlm_api.h"

static uint32_t arena[TLM_API_ARENA_WORDS];
static Tlm tlm;

typedef struct {
    int32_t ids[4096];
    int32_t n;
    int32_t stop_after;
    char text[1 << 16];
    size_t len;
} Collected;

static Collected got;

static int collect(int32_t id, const char *text, size_t len, void *user) {
    Collected *c = (Collected *)user;
    if (c->n < 4096) {
        c->ids[c->n] = id;
    }
    c->n++;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
    }
    return c->stop_after > 0 && c->n >= c->stop_after;
}

static void put_hex(const char *text, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) {
        printf("%02x", (unsigned)(unsigned char)text[i]);
    }
}

/* The rest of the line after `fields` space-separated fields. */
static char *after_fields(char *line, int fields) {
    while (fields-- > 0) {
        char *space = strchr(line, ' ');
        if (space == NULL) {
            return line + strlen(line);
        }
        line = space + 1;
    }
    return line;
}

static void run_complete(char *args) {
    TlmCompletion c = TLM_COMPLETION_INIT;
    long v[6];
    int32_t n = 0;
    int32_t i;
    char *p = args;
    char *prompt;
    TlmStatus st;
    for (i = 0; i < 6; i++) {
        v[i] = strtol(p, &p, 10);
    }
    prompt = after_fields(args, 6);
    c.max_tokens = (int32_t)v[0];
    c.seed = (uint32_t)v[1];
    c.temp_milli = (int32_t)v[2];
    c.top_k = (int32_t)v[3];
    c.stop_at_newline = (int32_t)v[4];
    memset(&got, 0, sizeof got);
    got.stop_after = (int32_t)v[5];
    st = tlm_api_complete(&tlm, prompt, strlen(prompt), &c, collect, &got, &n);
    printf("C %d %d", (int)st, (int)n);
    for (i = 0; i < got.n && i < 4096; i++) {
        printf(" %d", (int)got.ids[i]);
    }
    printf(" | ");
    put_hex(got.text, got.len);
    printf("\n");
}

static void run_command(char *utterance) {
    TlmCommandText said;
    const TlmStatus st = tlm_api_command(&tlm, utterance, strlen(utterance), &said);
    printf("M %d %d %d ", (int)st, (int)said.n_tokens, (int)said.complete);
    put_hex(said.text, said.len);
    printf("\n");
    if (strlen(said.text) != said.len) {
        printf("error: text and len disagree\n");
    }
}

static void run_parse(char *text) {
    TlmApiCommand cmd;
    int32_t i;
    const TlmCommandStatus st = tlm_api_parse(text, strlen(text), &cmd);
    printf("P %d", (int)st);
    if (st != TLM_COMMAND_OK) {
        printf(" at %u\n", (unsigned)cmd.error_at);
        return;
    }
    printf(" %d %s %d", (int)cmd.intent, cmd.name, (int)cmd.n_slots);
    for (i = 0; i < cmd.n_slots; i++) {
        const TlmSlotValue *s = &cmd.slots[i];
        if (!s->present) {
            printf(" -");
        } else if (s->text != NULL) {
            printf(" L%d:%s", (int)s->value, s->text);
        } else {
            printf(" N%d", (int)s->value);
        }
    }
    printf("\n");
}

int main(void) {
    static char line[1 << 12];
    TlmStatus st = tlm_api_init(&tlm, arena, sizeof arena);
    if (st != TLM_OK) {
        printf("init %s\n", tlm_status_text(st));
        return 1;
    }
    /* an arena a byte short is refused */
    if (tlm_api_init(&tlm, arena, TLM_ARENA_BYTES - 1) != TLM_ERR_ARENA || tlm_api_init(&tlm, arena, sizeof arena)) {
        printf("error: a short arena was not refused\n");
        return 1;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (len < 2) {
            continue;
        }
        switch (line[0]) {
        case 'C': run_complete(line + 2); break;
        case 'M': run_command(line + 2); break;
        case 'P': run_parse(line + 2); break;
        default: printf("error: unknown request %c\n", line[0]); break;
        }
    }
    return 0;
}
