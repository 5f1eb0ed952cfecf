/* tlm_tokenizer.c: text -> token ids, exactly as the host's Tokenizer.encode (docs/tokenizers.md).
 *
 * Four kinds. char: one id per UTF-8 character; byte: one id per byte. word and bpe cut the
 * text at the special tokens' texts ("<pad>", "<unk>"), cut each stretch between them into
 * pieces (the pre-tokenization below), then map each piece: word looks it up whole; bpe
 * splits it into characters and merges adjacent pairs, the lowest rank first, as the
 * HuggingFace BPE model does. All tables are const and generated (model_data.c); the only
 * memory used is one piece's symbols on the stack (bpe: 4 bytes per character).
 */
#include "tlm_runtime.h"

#include <string.h>

#define TLM_NO_MERGE 0xFFFFu        /* a symbol's merge index when its pair has no merge */

/* ----------------------------------------------------------------------------------------- */
/* Characters: UTF-8, ASCII classes, lowercasing                                             */

/* One well-formed UTF-8 character at s[0..len): its code point and length, or 0 if malformed
 * (overlong forms, surrogates and values above U+10FFFF are malformed, as in Python). */
static size_t utf8_decode(const uint8_t *s, size_t len, uint32_t *code) {
    size_t n;
    size_t i;
    uint32_t c;
    uint32_t min;
    if (s[0] < 0x80u) {
        *code = s[0];
        return 1;
    }
    if (s[0] >= 0xC2u && s[0] <= 0xDFu) {
        n = 2; c = s[0] & 0x1Fu; min = 0x80u;
    } else if (s[0] >= 0xE0u && s[0] <= 0xEFu) {
        n = 3; c = s[0] & 0x0Fu; min = 0x800u;
    } else if (s[0] >= 0xF0u && s[0] <= 0xF4u) {
        n = 4; c = s[0] & 0x07u; min = 0x10000u;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFFu || (c >= 0xD800u && c <= 0xDFFFu)) {
        return 0;
    }
    *code = c;
    return n;
}

/* Bytes of the character at s[0..len), len >= 1: a malformed byte is a character of its own. */
static size_t char_len(const uint8_t *s, size_t len) {
    uint32_t code = 0;
    const size_t n = utf8_decode(s, len, &code);
    return n != 0 ? n : 1;
}

static int is_upper(uint32_t c) { return c >= 'A' && c <= 'Z'; }
static int is_letter(uint32_t c) { return is_upper(c) || (c >= 'a' && c <= 'z'); }
static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* The character (or byte) as the tokenizer sees it: ASCII A-Z folded when the model says so. */
static uint32_t fold(const TlmModel *m, uint32_t c) {
    return m->lowercase && is_upper(c) ? c + ('a' - 'A') : c;
}

/* ----------------------------------------------------------------------------------------- */
/* Lookups: binary searches of the generated tables                                          */

/* The id of a code point (char_codes ascending), TLM_UNK if it has none. */
static int32_t char_id(const TlmModel *m, uint32_t code) {
    int32_t lo = 0;
    int32_t hi = m->n_chars - 1;
    while (lo <= hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (m->char_codes[mid] == code) {
            return m->char_ids[mid];
        }
        if (m->char_codes[mid] < code) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return TLM_UNK;
}

/* memcmp order of a piece (folded as the model says) and a token text; a prefix sorts first:
 * the order of Python's sorted() over bytes, which the generator sorted word_ids by. */
static int compare_text(const TlmModel *m, const uint8_t *piece, size_t n, const uint8_t *text, size_t len) {
    size_t i;
    for (i = 0; i < n && i < len; i++) {
        const uint32_t a = fold(m, piece[i]);
        if (a != text[i]) {
            return a < text[i] ? -1 : 1;
        }
    }
    return n < len ? -1 : (n > len ? 1 : 0);
}

/* The id of a whole piece (word), TLM_UNK if the vocabulary does not have it. */
static int32_t word_id(const TlmModel *m, const uint8_t *piece, size_t n) {
    int32_t lo = 0;
    int32_t hi = m->n_words - 1;
    while (lo <= hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        const uint16_t id = m->word_ids[mid];
        const uint32_t start = m->token_start[id];
        const int c = compare_text(m, piece, n, m->token_bytes + start, m->token_start[id + 1] - start);
        if (c == 0) {
            return id;
        }
        if (c > 0) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return TLM_UNK;
}

/* The index of the merge of (left, right) in the merge tables, or TLM_NO_MERGE. */
static uint16_t merge_at(const TlmModel *m, uint16_t left, uint16_t right) {
    const uint32_t key = ((uint32_t)left << 16) | right;
    int32_t lo = 0;
    int32_t hi = m->n_merges - 1;
    while (lo <= hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (m->merge_keys[mid] == key) {
            return (uint16_t)mid;
        }
        if (m->merge_keys[mid] < key) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return TLM_NO_MERGE;
}

/* ----------------------------------------------------------------------------------------- */
/* Pre-tokenization (word, bpe)                                                              */
/*
 * First the special tokens: wherever the text holds "<pad>" or "<unk>" (as typed: before
 * lowercasing), that is id 0 or 1, and the text on either side is encoded on its own. Then
 * each stretch is cut into pieces by PIECE = " ?[A-Za-z]+| ?[0-9]| ?[^A-Za-z0-9 ]| ", taking
 * the first alternative that matches at each position: a run of ASCII letters, one digit or
 * one other character, each with the space before it if there is one; a space that no such
 * piece follows (another space, the end) is a piece alone. Every byte lands in one piece.
 */

/* 5 if s[0..len) starts with a special token's text (its id in *id), else 0. */
static size_t special_at(const uint8_t *s, size_t len, int32_t *id) {
    if (len < 5 || s[0] != '<' || s[4] != '>') {
        return 0;
    }
    if (memcmp(s + 1, "pad", 3) == 0) {
        *id = TLM_PAD;
        return 5;
    }
    if (memcmp(s + 1, "unk", 3) == 0) {
        *id = TLM_UNK;
        return 5;
    }
    return 0;
}

/* Bytes of the piece at the start of s[0..len), len >= 1. Letters are ASCII bytes, so the
 * classes are decided on bytes; only "one other character" needs UTF-8. */
static size_t piece_len(const uint8_t *s, size_t len) {
    size_t i = 0;
    if (s[0] == ' ') {
        if (len == 1 || s[1] == ' ') {
            return 1;
        }
        i = 1;
    }
    if (is_letter(s[i])) {
        while (i < len && is_letter(s[i])) {
            i++;
        }
        return i;
    }
    if (is_digit(s[i])) {
        return i + 1;
    }
    return i + char_len(s + i, len - i);
}

/* ----------------------------------------------------------------------------------------- */
/* Encoding                                                                                  */

typedef struct {
    const TlmModel *model;
    TlmTokenFn on_token;            /* may be NULL: only check */
    void *user;
    int stopped;                    /* 1 once on_token asked to stop */
} TlmEncoder;

/* Report one id; 1 if encoding is to stop. */
static int emit(TlmEncoder *e, int32_t id) {
    if (!e->stopped && e->on_token != NULL && e->on_token(id, e->user) != 0) {
        e->stopped = 1;
    }
    return e->stopped;
}

/* char: one id per UTF-8 character (a malformed byte is <unk>); byte: byte b is id b + 1. */
static void encode_chars(TlmEncoder *e, const uint8_t *s, size_t len) {
    const TlmModel *m = e->model;
    size_t at = 0;
    while (at < len) {
        uint32_t code = 0;
        size_t n;
        if (m->tokenizer == TLM_TOKENIZER_BYTE) {
            if (emit(e, (int32_t)fold(m, s[at]) + 1)) {
                return;
            }
            at++;
            continue;
        }
        n = utf8_decode(s + at, len - at, &code);
        if (emit(e, n == 0 ? TLM_UNK : char_id(m, fold(m, code)))) {
            return;
        }
        at += n == 0 ? 1 : n;
    }
}

/* One symbol of a BPE piece: its id, and the merge table index of (this, next) or
 * TLM_NO_MERGE (always for the last symbol). */
typedef struct {
    uint16_t id;
    uint16_t merge;
} TlmSymbol;

/* bpe: one piece. Each character becomes its id (<unk> if the vocabulary lacks it: each such
 * character its own <unk>); then, while any adjacent pair has a merge, the pair with the
 * lowest rank (the leftmost of equal ones) becomes its merged id. That is HuggingFace's
 * priority queue of (rank, position) without the queue: O(n^2) per piece, n is small. */
static TlmStatus encode_bpe_piece(TlmEncoder *e, const uint8_t *s, size_t len) {
    const TlmModel *m = e->model;
    TlmSymbol sym[TLM_PIECE_MAX];   /* (n) the piece's symbols, left to right */
    size_t n = 0;
    size_t at = 0;
    size_t i;
    while (at < len) {
        uint32_t code = 0;
        const size_t used = utf8_decode(s + at, len - at, &code);
        if (n == TLM_PIECE_MAX) {
            return TLM_ERR_TEXT;
        }
        sym[n].id = (uint16_t)(used == 0 ? TLM_UNK : char_id(m, fold(m, code)));
        sym[n].merge = TLM_NO_MERGE;
        at += used == 0 ? 1 : used;
        n++;
    }
    for (i = 0; i + 1 < n; i++) {
        sym[i].merge = merge_at(m, sym[i].id, sym[i + 1].id);
    }
    for (;;) {
        size_t best = n;
        uint32_t best_rank = 0xFFFFFFFFu;
        for (i = 0; i + 1 < n; i++) {
            if (sym[i].merge != TLM_NO_MERGE && m->merge_ranks[sym[i].merge] < best_rank) {
                best = i;
                best_rank = m->merge_ranks[sym[i].merge];
            }
        }
        if (best == n) {
            break;
        }
        sym[best].id = m->merge_ids[sym[best].merge];
        memmove(&sym[best + 1], &sym[best + 2], (n - best - 2) * sizeof sym[0]);
        n--;
        sym[best].merge = best + 1 < n ? merge_at(m, sym[best].id, sym[best + 1].id) : (uint16_t)TLM_NO_MERGE;
        if (best > 0) {
            sym[best - 1].merge = merge_at(m, sym[best - 1].id, sym[best].id);
        }
    }
    for (i = 0; i < n; i++) {
        if (emit(e, sym[i].id)) {
            break;
        }
    }
    return TLM_OK;
}

/* word, bpe: a stretch without special tokens, piece by piece. */
static TlmStatus encode_pieces(TlmEncoder *e, const uint8_t *s, size_t len) {
    size_t at = 0;
    while (at < len && !e->stopped) {
        const size_t n = piece_len(s + at, len - at);
        if (e->model->tokenizer == TLM_TOKENIZER_WORD) {
            (void)emit(e, word_id(e->model, s + at, n));
        } else {
            const TlmStatus status = encode_bpe_piece(e, s + at, n);
            if (status != TLM_OK) {
                return status;
            }
        }
        at += n;
    }
    return TLM_OK;
}

/* TLM_OK if the model has the tables its tokenizer kind reads. */
static TlmStatus check_tables(const TlmModel *m) {
    if (m->n_chars < 0 || (m->n_chars > 0 && (m->char_codes == NULL || m->char_ids == NULL)) ||
        m->token_start == NULL || m->token_bytes == NULL) {
        return TLM_ERR_MODEL;
    }
    switch (m->tokenizer) {
    case TLM_TOKENIZER_CHAR:
        return TLM_OK;
    case TLM_TOKENIZER_BYTE:
        return m->vocab >= 257 ? TLM_OK : TLM_ERR_MODEL;
    case TLM_TOKENIZER_WORD:
        return m->n_words >= 0 && (m->n_words == 0 || m->word_ids != NULL) ? TLM_OK : TLM_ERR_MODEL;
    case TLM_TOKENIZER_BPE:
        return m->n_merges >= 0 && m->n_merges < (int32_t)TLM_NO_MERGE &&
               (m->n_merges == 0 || (m->merge_keys != NULL && m->merge_ranks != NULL && m->merge_ids != NULL))
               ? TLM_OK : TLM_ERR_MODEL;
    default:
        return TLM_ERR_MODEL;
    }
}

TlmStatus tlm_encode(const TlmModel *model, const uint8_t *text, size_t len, TlmTokenFn on_token, void *user) {
    TlmEncoder e;
    TlmStatus status;
    size_t at = 0;
    if (model == NULL || (text == NULL && len > 0)) {
        return TLM_ERR_ARG;
    }
    status = check_tables(model);
    if (status != TLM_OK) {
        return status;
    }
    e.model = model;
    e.on_token = on_token;
    e.user = user;
    e.stopped = 0;
    if (model->tokenizer == TLM_TOKENIZER_CHAR || model->tokenizer == TLM_TOKENIZER_BYTE) {
        encode_chars(&e, text, len);
        return TLM_OK;
    }
    while (at < len && !e.stopped) {
        size_t end = at;
        size_t special_len = 0;
        int32_t special = TLM_UNK;
        while (end < len && (special_len = special_at(text + end, len - end, &special)) == 0) {
            end++;
        }
        status = encode_pieces(&e, text + at, end - at);
        if (status != TLM_OK) {
            return status;
        }
        if (special_len != 0) {
            (void)emit(&e, special);
        }
        at = end + special_len;
    }
    return TLM_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Decoding: the token table                                                                 */

const uint8_t *tlm_token_text(const TlmModel *model, int32_t id, size_t *len) {
    if (model == NULL || id < 0 || id >= model->vocab) {
        *len = 0;
        return model != NULL ? model->token_bytes : NULL;
    }
    *len = model->token_start[id + 1] - model->token_start[id];
    return model->token_bytes + model->token_start[id];
}
