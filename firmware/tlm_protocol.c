/* tlm_protocol.c: the device side of the tlmc serial protocol, version 1.
 *
 * docs/protocol.md is the specification; toolchain/link/client.py is the host side. Every request
 * line gets exactly one final line, OK or ERR; GEN streams TOK lines before its OK.
 */
#include "tlm_protocol.h"

#include <string.h>

#include "tlm_port.h"

#define MAX_GEN_TOKENS 4096
#define MAX_BENCH_STEPS 1000
#define MAX_PUSH 32
#define MAX_CMD_TOKENS 64           /* CMD decodes at most this many tokens (INFO cmd_max) */

/* Why a GEN or CMD stopped before its end (TlmProtocol.stop). */
enum { TLM_STOP_NONE, TLM_STOP_INPUT, TLM_STOP_LINK };

/* ----------------------------------------------------------------------------------------- */
/* Output: replies are buffered and written a line (or a full buffer) at a time.             */
/*                                                                                           */
/* The link rule (docs/protocol.md, "The link"): a write that makes no progress for          */
/* TLM_WRITE_TIMEOUT_MS marks the link down; from then on output is dropped at once, without  */
/* waiting, until a byte is received. A GEN or CMD running then stops at its next token.      */
/* So a host that closed the port (USB writes return 0) or stopped reading (no room) costs    */
/* the device one timeout, not one per piece of every line.                                  */

#define CLOCK_EVERY 16u            /* no-room answers per look at the clock while waiting */

/* Hand the buffered bytes to the port, or drop them if the link is down. While the port has
 * no room the clock is read only every CLOCK_EVERY tries: a port's write_some() waits a
 * little when it says 0 (port_mps2.c, port_host.c), and reading a clock can be slow (a timer
 * register under QEMU -icount). */
static void out_flush(TlmProtocol *p) {
    TlmOut *o = &p->out;
    uint32_t sent = 0;
    uint32_t since = 0;
    uint32_t tries = 0;             /* no-room answers since the last progress */
    while (!o->link_down && sent < o->len) {
        size_t took = tlm_port_write_some(o->buf + sent, o->len - sent);
        if (took > 0) {
            sent += (uint32_t)took;
            tries = 0;
        } else if (tries++ == 0) {
            since = tlm_port_millis();
        } else if (tries % CLOCK_EVERY == 0 && (uint32_t)(tlm_port_millis() - since) >= TLM_WRITE_TIMEOUT_MS) {
            o->link_down = 1;
            o->timeouts++;
        }
    }
    o->len = 0;
}

/* Append n bytes; whole lines go out together (a line longer than the buffer in full buffers). */
static void out_write(TlmProtocol *p, const char *s, size_t n) {
    TlmOut *o = &p->out;
    for (size_t i = 0; i < n; i++) {
        o->buf[o->len++] = s[i];
        if (s[i] == '\n' || o->len == TLM_OUT_BYTES) out_flush(p);
    }
}

/* Small formatting helpers over out_write (no printf: it pulls in 20+ KB). */
static void put(TlmProtocol *p, const char *s) { out_write(p, s, strlen(s)); }

static void put_u32(TlmProtocol *p, uint32_t v) {
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    put(p, buf + i);
}

static void put_i32(TlmProtocol *p, int32_t v) {
    if (v < 0) {
        put(p, "-");
        put_u32(p, (uint32_t)(-(int64_t)v));
    } else {
        put_u32(p, (uint32_t)v);
    }
}

static void put_kv(TlmProtocol *p, const char *key, uint32_t v) {
    put(p, " ");
    put(p, key);
    put(p, "=");
    put_u32(p, v);
}

static void reply_err(TlmProtocol *p, const char *code, const char *text) {
    put(p, "ERR ");
    put(p, code);
    put(p, " ");
    put(p, text);
    put(p, "\n");
}

/* Token text escaped as docs/protocol.md says: printable ASCII but space and backslash as is. */
static void put_escaped(TlmProtocol *p, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        uint8_t b = s[i];
        char esc[4] = {'\\', 0, 0, 0};
        size_t len = 2;
        switch (b) {
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case ' ': esc[1] = 's'; break;
        default:
            if (b > 0x20 && b < 0x7f) {
                esc[0] = (char)b;
                len = 1;
            } else {
                esc[1] = 'x';
                esc[2] = hex[b >> 4];
                esc[3] = hex[b & 15];
                len = 4;
            }
        }
        out_write(p, esc, len);
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Input: words and strict numbers                                                           */

/* Words are separated by spaces or tabs, one or more (docs/protocol.md, Framing). */
static int is_sep(char c) { return c == ' ' || c == '\t'; }

/* The next word of *s (NUL-terminated in place), or NULL at the end. *s is left after the
 * one separator that ends the word: the text of GEN, CMD and TOKENIZE starts there. */
static char *next_word(char **s) {
    char *p = *s;
    while (is_sep(*p)) p++;
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    char *w = p;
    while (*p != '\0' && !is_sep(*p)) p++;
    if (*p != '\0') *p++ = '\0';
    *s = p;
    return w;
}

/* 1 if another word follows in s (s is not changed). */
static int has_word(const char *s) {
    while (is_sep(*s)) s++;
    return *s != '\0';
}

/* 0 if no word follows in rest, else -1 after replying ERR bad-args with the usage. */
static int no_more_words(TlmProtocol *p, const char *rest, const char *usage) {
    if (!has_word(rest)) return 0;
    put(p, "ERR bad-args too many arguments (usage: ");
    put(p, usage);
    put(p, ")\n");
    return -1;
}

/* A decimal integer in [lo, hi]; 0 on success, -1 if not a number, -2 if out of range. */
static int parse_int(const char *w, int64_t lo, int64_t hi, int32_t *out) {
    int neg = 0;
    int64_t v = 0;
    if (*w == '-') {
        neg = 1;
        w++;
    }
    if (*w == '\0') return -1;
    for (const char *d = w; *d != '\0'; d++) {
        if (*d < '0' || *d > '9') return -1;   /* not a number, however long */
    }
    for (; *w != '\0'; w++) {
        v = v * 10 + (*w - '0');
        if (v > 4294967296LL) return -2;   /* a number, far out of any range: stop before overflow */
    }
    if (neg) v = -v;
    if (v < lo || v > hi) return -2;
    *out = (int32_t)v;
    return 0;
}

/* Parse a word as an integer in [lo, hi] or reply ERR (bad-args / bad-number / range). */
static int take_int(TlmProtocol *p, char **rest, const char *what, int64_t lo, int64_t hi, int32_t *out) {
    char *w = next_word(rest);
    if (w == NULL) {
        put(p, "ERR bad-args missing ");
        put(p, what);
        put(p, "\n");
        return -1;
    }
    int r = parse_int(w, lo, hi, out);
    if (r == -1) {
        put(p, "ERR bad-number ");
        put(p, what);
        put(p, " is not a number\n");
        return -1;
    }
    if (r == -2) {
        put(p, "ERR range ");
        put(p, what);
        put(p, " must be ");
        put_i32(p, (int32_t)lo);
        put(p, "..");
        put_i32(p, (int32_t)hi);
        put(p, "\n");
        return -1;
    }
    return 0;
}

/* Undo the protocol's escapes in place (GEN prompt, CMD utterance); returns the new length or -1. */
static long unescape(char *s) {
    char *out = s;
    for (char *p = s; *p != '\0'; p++) {
        if (*p != '\\') {
            *out++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case '\\': *out++ = '\\'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 's': *out++ = ' '; break;
        case 'x': {
            int v = 0;
            for (int i = 1; i <= 2; i++) {
                char c = p[i];
                int d = (c >= '0' && c <= '9') ? c - '0'
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (d < 0) return -1;
                v = v * 16 + d;
            }
            *out++ = (char)v;
            p += 2;
            break;
        }
        default: return -1;
        }
    }
    return (long)(out - s);
}

/* The text after a command (GEN's prompt, CMD's utterance, TOKENIZE's text), unescaped in
 * place: its length, or -1 after replying ERR bad-args about the text named `what`. */
static long take_text(TlmProtocol *p, char *rest, const char *what) {
    long n = unescape(rest);
    if (n < 0) {
        put(p, "ERR bad-args bad escape in the ");
        put(p, what);
        put(p, " (use \\\\ \\n \\r \\t \\s \\xHH)\n");
    }
    return n;
}

/* ----------------------------------------------------------------------------------------- */
/* Commands                                                                                  */

static const char *tokenizer_name(int32_t kind) {
    switch (kind) {
    case TLM_TOKENIZER_BYTE: return "byte";
    case TLM_TOKENIZER_WORD: return "word";
    case TLM_TOKENIZER_BPE: return "bpe";
    default: return "char";
    }
}

/* The ERR reply of a text the tokenizer refused (a BPE piece too long) or of any other status. */
static void reply_text_err(TlmProtocol *p, TlmStatus st) {
    if (st == TLM_ERR_TEXT) {
        put(p, "ERR encode a piece of the text has more than ");
        put_u32(p, TLM_PIECE_MAX);
        put(p, " characters (INFO piece_max)\n");
    } else {
        reply_err(p, "model", tlm_status_text(st));
    }
}

static void cmd_info(TlmProtocol *p, char *rest) {
    const TlmModel *m = p->tlm->model;
    if (no_more_words(p, rest, "INFO") != 0) return;
    put(p, "OK proto=");
    put_u32(p, TLM_PROTOCOL_VERSION);
    put(p, " model=");
    put(p, m->hash);
    put(p, " board=");
    put(p, p->info->board);
    put_kv(p, "vocab", (uint32_t)m->vocab);
    put_kv(p, "context", (uint32_t)m->context);
    put(p, m->n_states > 0 ? " kind=step" : " kind=window");
    put_kv(p, "states", (uint32_t)m->n_states);
    put_kv(p, "arena", m->arena_bytes);
    put_kv(p, "flash", p->info->flash_bytes);
    put_kv(p, "ram", p->info->ram_bytes);
    put_kv(p, "line_max", TLM_LINE_MAX);
    put(p, " counter=");
    put(p, tlm_port_counter());
    put(p, " tokenizer=");
    put(p, tokenizer_name(m->tokenizer));
    put_kv(p, "lowercase", (uint32_t)(m->lowercase != 0));
    put_kv(p, "cmd_max", MAX_CMD_TOKENS);
    put_kv(p, "tokenize", 1u);         /* TOKENIZE is here (firmware before it does not say) */
    put_kv(p, "piece_max", TLM_PIECE_MAX);
    put_kv(p, "rx_max", tlm_port_rx_max());       /* request pieces the host may send (docs/protocol.md) */
    put_kv(p, "link_timeouts", p->out.timeouts);  /* writes that timed out since start */
    put(p, "\n");
}

static void cmd_reset(TlmProtocol *p, char *rest) {
    if (no_more_words(p, rest, "RESET") != 0) return;
    tlm_reset(p->tlm);
    put(p, "OK\n");
}

static void cmd_push(TlmProtocol *p, char *rest) {
    int32_t ids[MAX_PUSH];
    int32_t n = 0;
    int32_t v = p->tlm->model->vocab;
    while (n < MAX_PUSH && has_word(rest)) {
        if (take_int(p, &rest, "token id", 0, v - 1, &ids[n]) != 0) return;
        n++;
    }
    if (n == 0 || has_word(rest)) {
        reply_err(p, "bad-args", "PUSH takes 1 to 32 token ids");
        return;
    }
    tlm_bench_begin();
    for (int32_t i = 0; i < n; i++) {
        TlmStatus st = tlm_push(p->tlm, ids[i]);   /* a step model runs its pending token */
        if (st != TLM_OK) {
            tlm_bench_end();
            reply_err(p, "model", tlm_status_text(st));
            return;
        }
    }
    tlm_bench_end();
    put(p, "OK ");
    put_i32(p, n);
    put(p, "\n");
}

/* LOGITS on a step model: from the zero state, run the ids in order (the first replaces the
 * <pad> start: a golden sequence begins with 0 itself), reply the last step's logits. The
 * ids were checked already; they are the `count` NUL-separated words from `w` to `end`. */
/* If `st` is OK, run the step and reply `OK <V logits>`; else reply the error. */
static void step_and_reply(TlmProtocol *p, TlmStatus st) {
    const int8_t *logits = NULL;
    if (st == TLM_OK) st = tlm_step(p->tlm, &logits);
    if (st != TLM_OK) {
        reply_err(p, "model", tlm_status_text(st));
        return;
    }
    put(p, "OK");
    for (int32_t i = 0; i < p->tlm->model->vocab; i++) {
        put(p, " ");
        put_i32(p, logits[i]);
    }
    put(p, "\n");
}

static void logits_of_sequence(TlmProtocol *p, char *w, const char *end, int32_t count) {
    const TlmModel *m = p->tlm->model;
    TlmStatus st = TLM_OK;
    for (int32_t i = 0; i < count && st == TLM_OK; i++) {
        int32_t id = 0;
        while (w < end && (is_sep(*w) || *w == '\0')) w++;
        parse_int(w, 0, m->vocab - 1, &id);
        w += strlen(w);
        st = i == 0 ? tlm_restart(p->tlm, id) : tlm_push(p->tlm, id);
    }
    step_and_reply(p, st);
}

static void cmd_logits(TlmProtocol *p, char *rest) {
    const TlmModel *m = p->tlm->model;
    int32_t count = 0, id;
    /* First pass: check every id, so a bad request leaves the window as it was. next_word
     * cuts the words apart with NULs; the second pass walks them up to `end`. */
    char *scan = rest;
    for (char *w = next_word(&scan); w != NULL; w = next_word(&scan)) {
        int r = parse_int(w, 0, m->vocab - 1, &id);
        if (r != 0) {
            put(p, r == -1 ? "ERR bad-number token id is not a number\n" : "ERR range token id must be 0..");
            if (r == -2) {
                put_i32(p, m->vocab - 1);
                put(p, "\n");
            }
            return;
        }
        count++;
    }
    if (m->n_states > 0) {
        if (count == 0) {
            reply_err(p, "bad-args", "LOGITS takes a sequence of 1 or more token ids");
            return;
        }
        logits_of_sequence(p, rest, scan, count);
        return;
    }
    if (count != m->context) {
        put(p, "ERR bad-args LOGITS takes exactly ");
        put_i32(p, m->context);
        put(p, " token ids\n");
        return;
    }
    const char *end = scan;
    char *w = rest;
    for (int32_t i = 0; i < m->context; i++) {
        while (w < end && (is_sep(*w) || *w == '\0')) w++;
        parse_int(w, 0, m->vocab - 1, &p->tlm->window[i]);
        w += strlen(w);
    }
    step_and_reply(p, tlm_window_changed(p->tlm));   /* the embedding ring follows the window */
}

/* The counter right after it ticks: starting an interval on a tick edge removes the phase of
 * the first reading, so a deterministic run (QEMU -icount) measures the same count every time. */
static uint32_t counter_at_edge(void) {
    uint32_t t = tlm_port_cycles();
    if (strcmp(tlm_port_counter(), "none") == 0) return t;
    uint32_t u;
    while ((u = tlm_port_cycles()) == t) {
    }
    return u;
}

/* GEN and CMD: a fresh context holding `text`, then `suffix` (suffix_len bytes, may be 0).
 * 0, or -1 after replying ERR when the tokenizer or the model refused them. */
static int reset_and_push(TlmProtocol *p, const char *text, size_t len, const char *suffix, size_t suffix_len) {
    tlm_reset(p->tlm);
    TlmStatus st = tlm_push_text(p->tlm, text, len, NULL);
    if (st == TLM_OK && suffix_len > 0) st = tlm_push_text(p->tlm, suffix, suffix_len, NULL);
    if (st != TLM_OK) {
        reply_text_err(p, st);
        return -1;
    }
    return 0;
}

/* 1 if s[0..n) holds only spaces and tabs (a blank line). */
static int is_blank(const char *s, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (!is_sep(s[i])) return 0;
    }
    return 1;
}

static int take_byte(TlmProtocol *p, uint8_t b);

/* GEN and CMD, between two tokens: read what the host sent meanwhile into the line buffer
 * (the request's own text was pushed already, so the buffer is free) and say whether to stop.
 * A blank line stops it (TLM_STOP_INPUT; the line is consumed: blank lines get no reply);
 * any other complete line is kept for after the reply (p->ahead) and nothing after it is
 * read. A link marked down stops it too (TLM_STOP_LINK). Nonzero to stop. */
static int should_stop(TlmProtocol *p) {
    while (!p->ahead && tlm_port_poll()) {
        p->out.link_down = 0;               /* the host is there */
        if (take_byte(p, (uint8_t)tlm_port_getc())) {
            if (!p->overflow && is_blank(p->line, p->len)) {
                p->len = 0;
                p->stop = TLM_STOP_INPUT;
                return 1;
            }
            p->ahead = 1;
        }
    }
    if (p->out.link_down) {
        p->stop = TLM_STOP_LINK;
        return 1;
    }
    return 0;
}

/* GEN and CMD: generate with `g`, then *dt = the counter's ticks since t0. 0, or -1 after
 * replying ERR model, or ERR aborted when should_stop() stopped it after *done tokens. */
static int generate_timed(TlmProtocol *p, const TlmGenerate *g, TlmTokenFn on_token, void *user, uint32_t t0,
                          uint32_t *dt, const int32_t *done) {
    p->stop = TLM_STOP_NONE;
    TlmStatus st = tlm_generate(p->tlm, g, on_token, user);
    *dt = tlm_port_cycles() - t0;
    if (st != TLM_OK) {
        reply_err(p, "model", tlm_status_text(st));
        return -1;
    }
    if (p->stop != TLM_STOP_NONE) {
        put(p, "ERR aborted after ");
        put_i32(p, *done);
        put(p, " of ");
        put_i32(p, g->n_tokens);
        put(p, p->stop == TLM_STOP_INPUT ? " tokens: a blank line came in\n"
                                         : " tokens: the host stopped reading (write timeout)\n");
        return -1;
    }
    return 0;
}

typedef struct {
    TlmProtocol *p;
    int32_t n;                      /* TOK lines sent */
    int32_t max;                    /* GEN's max tokens */
} TlmGenStream;

static int stream_token(int32_t id, void *user) {
    TlmGenStream *gs = (TlmGenStream *)user;
    TlmProtocol *p = gs->p;
    size_t len = 0;
    const uint8_t *text = tlm_token_text(p->tlm->model, id, &len);
    put(p, "TOK ");
    put_i32(p, id);
    put(p, " ");
    put_escaped(p, text, len);
    put(p, "\n");
    gs->n++;
    return gs->n < gs->max ? should_stop(p) : 0;    /* after the last token nothing is left to stop */
}

static void cmd_gen(TlmProtocol *p, char *rest) {
    TlmGenerate g;
    if (take_int(p, &rest, "max tokens", 1, MAX_GEN_TOKENS, &g.n_tokens) != 0) return;
    int32_t seed;
    if (take_int(p, &rest, "seed", 0, 2147483647, &seed) != 0) return;
    g.seed = (uint32_t)seed;
    if (take_int(p, &rest, "temp_milli", 0, 100000, &g.temp_milli) != 0) return;
    if (take_int(p, &rest, "top_k", 0, 65535, &g.top_k) != 0) return;
    long n = take_text(p, rest, "prompt");     /* after top_k's one separator: it keeps its spaces */
    if (n < 0 || reset_and_push(p, rest, (size_t)n, "", 0) != 0) return;
    TlmGenStream gs = {p, 0, g.n_tokens};
    uint32_t dt;    /* of the generation alone */
    if (generate_timed(p, &g, stream_token, &gs, counter_at_edge(), &dt, &gs.n) != 0) return;
    put(p, "OK n=");
    put_i32(p, g.n_tokens);
    put_kv(p, "cycles", dt);
    put(p, "\n");
}

/* CMD: greedy decoding of the commands recipe's `<utterance> => <command>` lines. The ids are
 * kept (not streamed) so the reply can carry its fields before the text, and a model error
 * still gets its ERR. Ids fit 16 bits: the sampler takes at most 65535 logits. */
typedef struct {
    TlmProtocol *p;
    uint16_t ids[MAX_CMD_TOKENS];   /* (n) the decoded ids, the final LF included */
    int32_t n;
    int complete;                   /* 1 if decoding stopped at the LF token */
} TlmCmdDecode;

static int collect_until_newline(int32_t id, void *user) {
    TlmCmdDecode *d = (TlmCmdDecode *)user;
    size_t len = 0;
    const uint8_t *text = tlm_token_text(d->p->tlm->model, id, &len);
    d->ids[d->n++] = (uint16_t)id;
    d->complete = len == 1 && text[0] == '\n';
    if (d->complete || d->n == MAX_CMD_TOKENS) return d->complete;
    return should_stop(d->p);
}

/* The prompt is `utterance + " =>"` (toolchain/quality/cmdparse.py prompt()): the separator without
 * its final space, which a word or BPE tokenizer makes part of the command's first token
 * (" oven"); the answer drops that one space again (cmdparse.command_text). The host encodes
 * the prompt as one text; pushing the utterance, then the separator, gives the same ids,
 * because every tokenizer kind starts a new token at a space (docs/tokenizers.md). */
static void cmd_cmd(TlmProtocol *p, char *rest) {
    static const char separator[] = " =>";   /* recipes.SEPARATOR without its last space */
    TlmGenerate g = {.n_tokens = MAX_CMD_TOKENS, .seed = 1, .temp_milli = 0, .top_k = 0};  /* greedy */
    TlmCmdDecode d;
    long n = take_text(p, rest, "utterance");
    if (n < 0) return;
    if (n == 0) {
        reply_err(p, "bad-args", "CMD takes an utterance: CMD turn the hallway lamp off");
        return;
    }
    const TlmModel *m = p->tlm->model;
    d.p = p;
    d.n = 0;
    d.complete = 0;
    uint32_t t0 = counter_at_edge();
    uint32_t dt;    /* of the pushes and the generation */
    if (reset_and_push(p, rest, (size_t)n, separator, sizeof separator - 1) != 0) return;
    if (generate_timed(p, &g, collect_until_newline, &d, t0, &dt, &d.n) != 0) return;
    put(p, "OK n=");
    put_i32(p, d.n);
    put_kv(p, "complete", (uint32_t)d.complete);
    put_kv(p, "cycles", dt);
    put(p, " text=");
    /* The continuation's bytes up to the first LF (a token may hold one inside), without the
     * one space after the separator: cmdparse.command_text on the decoded ids. */
    int first = 1;
    for (int32_t i = 0; i < d.n - d.complete; i++) {
        size_t len = 0;
        const uint8_t *text = tlm_token_text(m, d.ids[i], &len);
        const uint8_t *lf = len > 0 ? (const uint8_t *)memchr(text, '\n', len) : NULL;
        size_t keep = lf != NULL ? (size_t)(lf - text) : len;
        if (first && len > 0) {
            if (text[0] == ' ') {
                text++;
                keep--;
            }
            first = 0;
        }
        put_escaped(p, text, keep);
        if (lf != NULL) break;
    }
    put(p, "\n");
}

/* TOKENIZE: the ids of a text, as the host's Tokenizer.encode gives them; the model is not
 * touched. Two passes over the text: the first counts (and meets any error before the reply
 * starts), the second prints, so no id buffer bounds the text. */
static int count_id(int32_t id, void *user) {
    (void)id;
    (*(uint32_t *)user)++;
    return 0;
}

typedef struct {
    TlmProtocol *p;
    uint32_t printed;               /* ids printed so far */
} TlmIdList;

static int put_id(int32_t id, void *user) {
    TlmIdList *l = (TlmIdList *)user;
    if (l->printed++ != 0) put(l->p, ",");
    put_i32(l->p, id);
    return 0;
}

static void cmd_tokenize(TlmProtocol *p, char *rest) {
    long n = take_text(p, rest, "text");
    if (n < 0) return;
    uint32_t count = 0;
    uint32_t t0 = counter_at_edge();
    TlmStatus st = tlm_encode(p->tlm->model, (const uint8_t *)rest, (size_t)n, count_id, &count);
    uint32_t dt = tlm_port_cycles() - t0;
    if (st != TLM_OK) {
        reply_text_err(p, st);
        return;
    }
    TlmIdList list = {p, 0};
    put(p, "OK n=");
    put_u32(p, count);
    put_kv(p, "cycles", dt);
    put(p, " ids=");
    (void)tlm_encode(p->tlm->model, (const uint8_t *)rest, (size_t)n, put_id, &list);
    put(p, "\n");
}

/* Markers around BENCH's steps and PUSH's pushes, for an instruction-counting emulator plugin
 * (bench/qemu_plugin: it counts from the first instruction of the one to the first of the
 * other). Out of line, with an empty asm so the compiler keeps the calls; a few instructions. */
__attribute__((noinline)) void tlm_bench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tlm_bench_end(void) { __asm__ volatile("" ::: "memory"); }

static void cmd_bench(TlmProtocol *p, char *rest) {
    int32_t n;
    if (take_int(p, &rest, "steps", 1, MAX_BENCH_STEPS, &n) != 0) return;
    if (no_more_words(p, rest, "BENCH <steps>") != 0) return;
    uint32_t t0 = counter_at_edge();
    tlm_bench_begin();
    for (int32_t i = 0; i < n; i++) {
        TlmStatus st = tlm_forward(p->tlm, NULL);  /* a step model: one more step each time */
        if (st != TLM_OK) {
            tlm_bench_end();
            reply_err(p, "model", tlm_status_text(st));
            return;
        }
    }
    tlm_bench_end();
    uint32_t dt = tlm_port_cycles() - t0;
    put(p, "OK");
    put_kv(p, "steps", (uint32_t)n);
    put_kv(p, "cycles", dt);
    put_kv(p, "per_step", dt / (uint32_t)n);
    put(p, " counter=");
    put(p, tlm_port_counter());
    put(p, "\n");
}

/* ----------------------------------------------------------------------------------------- */
/* Dispatch                                                                                  */

static int word_is(const char *w, const char *cmd) {
    /* commands are case-insensitive for people typing them */
    for (; *w != '\0' && *cmd != '\0'; w++, cmd++) {
        char c = *w;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c != *cmd) return 0;
    }
    return *w == '\0' && *cmd == '\0';
}

typedef void (*TlmCommandFn)(TlmProtocol *p, char *rest);

void tlm_protocol_execute(TlmProtocol *p, char *line, size_t len) {
    static const struct {
        const char *name;
        TlmCommandFn run;
    } commands[] = {
        {"INFO", cmd_info}, {"RESET", cmd_reset}, {"PUSH", cmd_push}, {"LOGITS", cmd_logits},
        {"GEN", cmd_gen}, {"BENCH", cmd_bench}, {"CMD", cmd_cmd}, {"TOKENIZE", cmd_tokenize},
    };
    line[len] = '\0';
    char *rest = line;
    if (memchr(line, '\0', len) != NULL) {
        reply_err(p, "unknown-command", "NUL byte in the line");
        return;
    }
    char *cmd = next_word(&rest);
    if (cmd == NULL) return;                 /* a blank line (spaces and tabs only): no reply */
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (word_is(cmd, commands[i].name)) {
            commands[i].run(p, rest);
            return;
        }
    }
    reply_err(p, "unknown-command", "try INFO, RESET, PUSH, LOGITS, GEN, BENCH, CMD or TOKENIZE");
}

void tlm_protocol_init(TlmProtocol *p, Tlm *tlm, const TlmDeviceInfo *info) {
    memset(p, 0, sizeof *p);
    p->tlm = tlm;
    p->info = info;
}

/* One received byte into the line being read: 1 if it ended a line (p->line, p->len and
 * p->overflow then hold it), 0 if the line goes on. The LF of a CR LF pair is dropped. */
static int take_byte(TlmProtocol *p, uint8_t b) {
    if (b == '\n' && p->last_cr) {           /* the LF of a CR LF pair: already ended */
        p->last_cr = 0;
        return 0;
    }
    p->last_cr = (b == '\r');
    if (b == '\n' || b == '\r') return 1;
    if (p->overflow) return 0;
    if (p->len >= TLM_LINE_MAX) {
        p->overflow = 1;
        return 0;
    }
    p->line[p->len++] = (char)b;
    return 0;
}

/* Answer the line just read. The parser is emptied before the command runs, so that GEN and
 * CMD can read the next line into it while they generate (should_stop). */
static void run_line(TlmProtocol *p) {
    uint32_t len = p->len;
    int overflow = p->overflow;
    p->len = 0;
    p->overflow = 0;
    if (overflow) {
        put(p, "ERR line-too-long at most ");
        put_u32(p, TLM_LINE_MAX);
        put(p, " bytes per line\n");
    } else {
        tlm_protocol_execute(p, p->line, len);
    }
}

void tlm_protocol_feed(TlmProtocol *p, int byte) {
    p->out.link_down = 0;                    /* a byte came in: the host is there */
    if (!take_byte(p, (uint8_t)byte)) return;
    run_line(p);
    while (p->ahead) {                       /* a line that came in during GEN or CMD: its turn */
        p->ahead = 0;
        run_line(p);
    }
}
