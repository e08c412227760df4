/* Turns the wire bytes of an ExportTraceServiceRequest into the span table's columns.
 *
 * otelflow.store.ingest._spans_python is the reference: this walk produces the same lists, values
 * and JSON text in about a ninth of its time (the per-span work in Python bounded the store's ingest
 * rate). It decodes the protobuf itself and accepts what upb (the parser behind the Python message)
 * accepts: unknown fields and known fields of an unexpected wire type are skipped, strings must be
 * valid UTF-8, nesting (messages and groups) stops at depth 100, a singular message given more than
 * once is the merge of its occurrences, a oneof keeps its last member. Whatever it refuses raises
 * ValueError; every length is checked against the buffer before it is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 100 /* upb's default: the root message plus 100 nested levels */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

typedef struct { char *data; size_t len, cap; } Buf;
typedef struct Block { struct Block *next; uint8_t data[]; } Block;

typedef struct {
    Buf out;          /* JSON being written */
    Block *arena;     /* merged copies of repeated singular messages, freed at the end */
    const char *err;  /* why the input was refused */
} Ctx;

typedef struct { const uint8_t *p, *end; } Range;
typedef struct { uint32_t num; int wt; uint64_t v; const uint8_t *data; size_t len; } Field;

static int fail(Ctx *c, const char *why) {
    if (c->err == NULL) c->err = why;
    return -1;
}

/* -- output buffer ------------------------------------------------------------------------------ */

static int reserve(Buf *b, size_t extra) {
    if (b->cap - b->len >= extra) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > ((size_t)PY_SSIZE_T_MAX) / 2) { PyErr_NoMemory(); return -1; }
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) { PyErr_NoMemory(); return -1; }
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int put(Buf *b, const char *s, size_t n) {
    if (reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

static inline int putc_(Buf *b, char ch) {
    if (reserve(b, 1) < 0) return -1;
    b->data[b->len++] = ch;
    return 0;
}

static int put_u64(Buf *b, uint64_t v) {
    char tmp[24];
    int i = sizeof tmp;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    return put(b, tmp + i, sizeof tmp - i);
}

static int put_i64(Buf *b, int64_t v) {
    if (v >= 0) return put_u64(b, (uint64_t)v);
    if (putc_(b, '-') < 0) return -1;
    return put_u64(b, (uint64_t)0 - (uint64_t)v);
}

static const char HEX[] = "0123456789abcdef";

static int put_hex(Buf *b, const uint8_t *s, size_t n) {
    if (reserve(b, 2 * n) < 0) return -1;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) { o[2 * i] = HEX[s[i] >> 4]; o[2 * i + 1] = HEX[s[i] & 15]; }
    b->len += 2 * n;
    return 0;
}

static int put_double(Buf *b, double x) {
    if (x != x) return PUTS(b, "NaN");  /* json.dumps spells the non-finite values this way */
    if (x == Py_HUGE_VAL) return PUTS(b, "Infinity");
    if (x == -Py_HUGE_VAL) return PUTS(b, "-Infinity");
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);  /* float.__repr__ */
    if (s == NULL) return -1;
    int rc = put(b, s, strlen(s));
    PyMem_Free(s);
    return rc;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Bytes as the JSON string of their standard base64 (with padding). */
static int put_base64(Buf *b, const uint8_t *s, size_t n) {
    if (reserve(b, (n + 2) / 3 * 4 + 2) < 0) return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63]; *o++ = B64[(v >> 6) & 63]; *o++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63]; *o++ = B64[(v >> 6) & 63]; *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* -- UTF-8 -------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), 0 when invalid: no overlong forms,
 * no surrogates, nothing above U+10FFFF, as upb and Python's decoder require. */
static inline size_t utf8_seq(const uint8_t *s, const uint8_t *end) {
    uint8_t c = s[0];
    size_t avail = (size_t)(end - s);
    if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[2] & 0xC0) != 0x80) return 0;
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

static int check_utf8(Ctx *c, const uint8_t *s, size_t n) {
    const uint8_t *end = s + n;
    while (s < end) {
        if (*s < 0x80) { s++; continue; }
        size_t k = utf8_seq(s, end);
        if (k == 0) return fail(c, "string field is not valid UTF-8");
        s += k;
    }
    return 0;
}

/* A JSON string as json.JSONEncoder(ensure_ascii=False) writes it: only '"', '\' and the control
 * characters below U+0020 are escaped (\b \f \n \r \t by name, the rest as \u00xx). */
static int put_json_str(Ctx *c, Buf *b, const uint8_t *s, size_t n) {
    if (reserve(b, n + 2) < 0) return -1;
    b->data[b->len++] = '"';
    const uint8_t *end = s + n;
    while (s < end) {
        const uint8_t *run = s;
        while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\') s++;
        if (s > run && put(b, (const char *)run, (size_t)(s - run)) < 0) return -1;
        if (s == end) break;
        uint8_t ch = *s;
        if (ch >= 0x80) {
            size_t k = utf8_seq(s, end);
            if (k == 0) return fail(c, "string field is not valid UTF-8");
            if (put(b, (const char *)s, k) < 0) return -1;
            s += k;
            continue;
        }
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t len = 2;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: esc[1] = 'u'; esc[4] = HEX[ch >> 4]; esc[5] = HEX[ch & 15]; len = 6;
        }
        if (put(b, esc, len) < 0) return -1;
        s++;
    }
    return putc_(b, '"');
}

/* -- wire format -------------------------------------------------------------------------------- */

static inline int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {  /* like upb: at most 10 bytes, bits past 64 dropped */
        if (p >= end) return 0;
        uint8_t byte = *p++;
        v |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) { *out = v; *pp = p; return 1; }
    }
    return 0;
}

/* Tags and lengths: at most 5 bytes and a value that fits 32 bits, or upb refuses them. */
static inline int read_varint32(const uint8_t **pp, const uint8_t *end, uint32_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 5; i++) {
        if (p >= end) return 0;
        uint8_t byte = *p++;
        v |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) {
            if (v > UINT32_MAX) return 0;
            *out = (uint32_t)v;
            *pp = p;
            return 1;
        }
    }
    return 0;
}

static inline uint64_t le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static const uint8_t EMPTY[1];  /* where empty ranges point */

static int skip_group(Ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t num, int depth);

/* Reads the value of a field whose tag was just read; a group is skipped whole. */
static int read_value(Ctx *c, const uint8_t **pp, const uint8_t *end, Field *f, int depth) {
    switch (f->wt) {
    case WT_VARINT:
        if (!read_varint(pp, end, &f->v)) return fail(c, "truncated or overlong varint");
        return 0;
    case WT_I64:
        if (end - *pp < 8) return fail(c, "truncated fixed64");
        f->v = le64(*pp);
        *pp += 8;
        return 0;
    case WT_I32:
        if (end - *pp < 4) return fail(c, "truncated fixed32");
        *pp += 4;
        return 0;
    case WT_LEN: {
        uint32_t len;
        if (!read_varint32(pp, end, &len) || len > (uint64_t)(end - *pp)) return fail(c, "bad length");
        f->data = *pp;
        f->len = len;
        *pp += len;
        return 0;
    }
    case WT_SGROUP:
        return skip_group(c, pp, end, f->num, depth + 1);
    case WT_EGROUP:
        return fail(c, "unexpected end of group");
    default:
        return fail(c, "invalid wire type");
    }
}

static inline int read_tag(Ctx *c, const uint8_t **pp, const uint8_t *end, Field *f) {
    uint32_t tag;
    if (!read_varint32(pp, end, &tag)) return fail(c, "bad tag");
    f->num = tag >> 3;
    f->wt = (int)(tag & 7);
    if (f->num == 0) return fail(c, "field number 0");
    return 0;
}

/* upb skips an unknown group with its wire reader, which (unlike its message decoder) takes field
 * number 0. */
static int skip_group(Ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t num, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    for (;;) {
        if (*pp >= end) return fail(c, "unterminated group");
        uint32_t tag;
        if (!read_varint32(pp, end, &tag)) return fail(c, "bad tag");
        Field f = {tag >> 3, (int)(tag & 7), 0, NULL, 0};
        if (f.wt == WT_EGROUP) return f.num == num ? 0 : fail(c, "mismatched end of group");
        if (read_value(c, pp, end, &f, depth) < 0) return -1;
    }
}

/* The next field of a message at depth `depth`: 1 a field, 0 the end, -1 malformed. */
static inline int next(Ctx *c, const uint8_t **pp, const uint8_t *end, int depth, Field *f) {
    if (*pp >= end) return 0;
    if (read_tag(c, pp, end, f) < 0 || read_value(c, pp, end, f, depth) < 0) return -1;
    return 1;
}

#define IS(f, n, w) ((f).num == (n) && (f).wt == (w))

static int check_structure(Ctx *c, const uint8_t *p, const uint8_t *end, int depth) {
    Field f;
    int r;
    while ((r = next(c, &p, end, depth, &f)) > 0) {}
    return r;
}

/* The content of the singular message field `num` in [p, end), from its occurrences in that range.
 * Protobuf merges repeated occurrences, which equals parsing their concatenation; upb parses each
 * occurrence on its own, so each must be well formed by itself. Returns the number of occurrences. */
static int gather(Ctx *c, const uint8_t *p, const uint8_t *end, uint32_t num, int depth, Range *out) {
    Field f;
    int r, count = 0;
    size_t total = 0;
    const uint8_t *q = p;
    out->p = out->end = EMPTY;
    while ((r = next(c, &q, end, depth - 1, &f)) > 0) {
        if (!IS(f, num, WT_LEN)) continue;
        if (count == 0) { out->p = f.data; out->end = f.data + f.len; }
        count++;
        total += f.len;
    }
    if (r < 0) return -1;
    if (count <= 1) return count;
    Block *blk = PyMem_Malloc(sizeof(Block) + total + 1);
    if (blk == NULL) { PyErr_NoMemory(); return -1; }
    blk->next = c->arena;
    c->arena = blk;
    uint8_t *o = blk->data;
    q = p;
    while ((r = next(c, &q, end, depth - 1, &f)) > 0) {
        if (!IS(f, num, WT_LEN)) continue;
        if (check_structure(c, f.data, f.data + f.len, depth) < 0) return -1;
        memcpy(o, f.data, f.len);
        o += f.len;
    }
    if (r < 0) return -1;
    out->p = blk->data;
    out->end = o;
    return count;
}

/* -- AnyValue and attribute maps as JSON -------------------------------------------------------- */

static int render_value(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, int depth);
static int render_object(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, uint32_t num, int depth);

/* A field of AnyValue's `value` oneof: string 1, bool 2, int 3, double 4, array 5, kvlist 6,
 * bytes 7, string_value_strindex 8 (written as null, as the Python path does). */
static inline int is_member(const Field *f) {
    switch (f->num) {
    case 1: case 5: case 6: case 7: return f->wt == WT_LEN;
    case 2: case 3: case 8: return f->wt == WT_VARINT;
    case 4: return f->wt == WT_I64;
    default: return 0;
    }
}

/* The oneof member an AnyValue ends with (*found = 0: none) and where the run of occurrences of
 * that member starts: a message member merges with the same member directly before it. */
static int last_member(Ctx *c, const uint8_t *p, const uint8_t *end, int depth, Field *last,
                       const uint8_t **run, int *found) {
    Field f;
    int r;
    *found = 0;
    *run = p;
    for (const uint8_t *q = p;;) {
        const uint8_t *at = q;
        if ((r = next(c, &q, end, depth, &f)) <= 0) break;
        if (!is_member(&f)) continue;
        if (!*found || f.num != last->num) *run = at;
        *last = f;
        *found = 1;
    }
    return r;
}

static int render_array(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    if (putc_(b, '[') < 0) return -1;
    Field f;
    int r, first = 1;
    while ((r = next(c, &p, end, depth, &f)) > 0) {
        if (!IS(f, 1, WT_LEN)) continue;
        if (!first && putc_(b, ',') < 0) return -1;
        first = 0;
        if (render_value(c, b, f.data, f.data + f.len, depth + 1) < 0) return -1;
    }
    if (r < 0) return -1;
    return putc_(b, ']');
}

static int render_value(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Field last, f;
    const uint8_t *run;
    int found, r;
    if (last_member(c, p, end, depth, &last, &run, &found) < 0) return -1;
    if (!found) return PUTS(b, "null");
    int merged = last.num == 5 || last.num == 6;
    /* Members the oneof replaced were parsed by upb all the same: they must be valid too. */
    const uint8_t *upto = merged ? run : end;
    for (const uint8_t *q = p; (r = next(c, &q, upto, depth, &f)) > 0;) {
        if (!is_member(&f)) continue;
        if (f.num == 1 && check_utf8(c, f.data, f.len) < 0) return -1;
        if (f.num == 5 || f.num == 6) {
            size_t mark = b->len;
            int rc = f.num == 5 ? render_array(c, b, f.data, f.data + f.len, depth + 1)
                                : render_object(c, b, f.data, f.data + f.len, 1, depth + 1);
            b->len = mark;
            if (rc < 0) return -1;
        }
    }
    if (r < 0) return -1;
    switch (last.num) {
    case 1: return put_json_str(c, b, last.data, last.len);
    case 2: return last.v ? PUTS(b, "true") : PUTS(b, "false");
    case 3: return put_i64(b, (int64_t)last.v);
    case 4: {
        double x;
        memcpy(&x, &last.v, 8);
        return put_double(b, x);
    }
    case 7: return put_base64(b, last.data, last.len);
    case 8: return PUTS(b, "null");
    default: {
        Range m;
        if (gather(c, run, end, last.num, depth + 1, &m) < 0) return -1;
        return last.num == 5 ? render_array(c, b, m.p, m.end, depth + 1)
                             : render_object(c, b, m.p, m.end, 1, depth + 1);
    }
    }
}

/* A KeyValue: its key (the last one given) and its value (all occurrences merged; has = 0: none). */
static int parse_kv(Ctx *c, const uint8_t *p, const uint8_t *end, int depth, Range *key, Range *value, int *has) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Field f;
    int r, values = 0;
    key->p = key->end = EMPTY;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (IS(f, 1, WT_LEN)) {
            if (check_utf8(c, f.data, f.len) < 0) return -1;
            key->p = f.data;
            key->end = f.data + f.len;
        } else if (IS(f, 2, WT_LEN)) {
            if (values++ == 0) { value->p = f.data; value->end = f.data + f.len; }
        }
    }
    if (r < 0) return -1;
    if (values > 1 && gather(c, p, end, 2, depth + 1, value) < 0) return -1;
    *has = values > 0;
    return 0;
}

typedef struct { const uint8_t *key; size_t klen, start, end; } Entry;

static inline int same_key(const Entry *a, const Entry *b) {
    return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* A JSON object built from a map with repeated keys must read like Python's dict of it: each key
 * where it first appeared, with the value it was given last. Rewrites the entries in place. */
static int dedupe(Buf *b, Entry *e, size_t n) {
    size_t stack[64];
    size_t *group = n <= 32 ? stack : PyMem_Malloc(2 * n * sizeof(size_t));  /* first index of each key */
    if (group == NULL) { PyErr_NoMemory(); return -1; }
    size_t *last = group + n;  /* for a first index: the index of the key's last entry */
    int dups = 0, rc = -1;
    if (n <= 32) {
        for (size_t i = 0; i < n; i++) {
            group[i] = i;
            for (size_t j = 0; j < i; j++)
                if (group[j] == j && same_key(&e[i], &e[j])) { group[i] = j; dups = 1; break; }
        }
    } else {
        size_t size = 64;
        while (size < 2 * n) size *= 2;
        size_t *table = PyMem_Calloc(size, sizeof(size_t));  /* index + 1, 0 when free */
        if (table == NULL) { PyErr_NoMemory(); goto done; }
        for (size_t i = 0; i < n; i++) {
            uint64_t h = 1469598103934665603ULL;
            for (size_t k = 0; k < e[i].klen; k++) h = (h ^ e[i].key[k]) * 1099511628211ULL;
            size_t slot = (size_t)h & (size - 1);
            group[i] = i;
            for (;; slot = (slot + 1) & (size - 1)) {
                if (table[slot] == 0) { table[slot] = i + 1; break; }
                if (same_key(&e[i], &e[table[slot] - 1])) { group[i] = table[slot] - 1; dups = 1; break; }
            }
        }
        PyMem_Free(table);
    }
    if (!dups) { rc = 0; goto done; }
    for (size_t i = 0; i < n; i++) last[group[i]] = i;
    size_t base = e[0].start, len = b->len - base;
    char *copy = PyMem_Malloc(len ? len : 1);
    if (copy == NULL) { PyErr_NoMemory(); goto done; }
    memcpy(copy, b->data + base, len);
    b->len = base;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (group[i] != i) continue;
        const Entry *w = &e[last[i]];
        if (!first) b->data[b->len++] = ',';  /* never longer than before: no growth needed */
        first = 0;
        memmove(b->data + b->len, copy + (w->start - base), w->end - w->start);
        b->len += w->end - w->start;
    }
    PyMem_Free(copy);
    rc = 0;
done:
    if (group != stack) PyMem_Free(group);
    return rc;
}

/* The KeyValue fields `num` of the message [p, end) at `depth` as one JSON object. */
static int render_object(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, uint32_t num, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Entry small[16], *e = small;
    size_t n = 0, cap = 16;
    int r, rc = -1;
    Field f;
    if (putc_(b, '{') < 0) return -1;
    while ((r = next(c, &p, end, depth, &f)) > 0) {
        if (!IS(f, num, WT_LEN)) continue;
        Range key, value;
        int has;
        if (parse_kv(c, f.data, f.data + f.len, depth + 1, &key, &value, &has) < 0) goto done;
        if (n == cap) {
            Entry *grown = PyMem_Malloc(2 * cap * sizeof(Entry));
            if (grown == NULL) { PyErr_NoMemory(); goto done; }
            memcpy(grown, e, n * sizeof(Entry));
            if (e != small) PyMem_Free(e);
            e = grown;
            cap *= 2;
        }
        if (n && putc_(b, ',') < 0) goto done;
        Entry *ent = &e[n++];
        ent->key = key.p;
        ent->klen = (size_t)(key.end - key.p);
        ent->start = b->len;
        if (put_json_str(c, b, key.p, ent->klen) < 0 || putc_(b, ':') < 0) goto done;
        if (has ? render_value(c, b, value.p, value.end, depth + 2) : PUTS(b, "null")) goto done;
        ent->end = b->len;
    }
    if (r < 0) goto done;
    if (n > 1 && dedupe(b, e, n) < 0) goto done;
    rc = putc_(b, '}');
done:
    if (e != small) PyMem_Free(e);
    return rc;
}

/* -- spans -------------------------------------------------------------------------------------- */

enum {
    C_TRACE_ID, C_SPAN_ID, C_PARENT, C_STATE, C_SERVICE, C_NAME, C_KIND, C_START, C_END, C_DURATION,
    C_CODE, C_MESSAGE, C_ATTRIBUTES, C_EVENTS, C_LINKS, C_RESOURCE, C_SCOPE_NAME, C_SCOPE_VERSION, NCOL
};
/* The order of otelflow.store.schema.SPAN_COLUMNS (the tests compare them). */
static const char *const COLUMN_NAMES[NCOL] = {
    "trace_id", "span_id", "parent_span_id", "trace_state", "service", "name", "kind", "start_ns",
    "end_ns", "duration_ns", "status_code", "status_message", "attributes", "events", "links",
    "resource", "scope_name", "scope_version",
};

static PyObject *EMPTY_OBJECT, *EMPTY_LIST, *UNKNOWN_SERVICE;

static inline int append(PyObject *list, PyObject *value) {  /* steals value */
    if (value == NULL) return -1;
    int rc = PyList_Append(list, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *str_of(const uint8_t *p, const uint8_t *end) {
    return PyUnicode_DecodeUTF8((const char *)p, end - p, NULL);
}

static PyObject *hex_of(const uint8_t *p, const uint8_t *end) {
    size_t n = (size_t)(end - p);
    PyObject *s = PyUnicode_New((Py_ssize_t)(2 * n), 127);
    if (s == NULL) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(s);
    for (size_t i = 0; i < n; i++) { o[2 * i] = HEX[p[i] >> 4]; o[2 * i + 1] = HEX[p[i] & 15]; }
    return s;
}

/* The JSON written to c->out since it was emptied, as a str. */
static PyObject *take_json(Ctx *c) {
    PyObject *s = PyUnicode_DecodeUTF8(c->out.data, (Py_ssize_t)c->out.len, NULL);
    c->out.len = 0;
    return s;
}

#define RANGE_OF(f) ((Range){(f).data, (f).data + (f).len})

/* The service of a resource, as the Python path derives it from the attributes' dict: the last
 * "service.name" value when that is a non-empty str there (a string, or bytes, which it keeps as
 * base64 text), "unknown_service" otherwise. The attributes were validated already. */
static PyObject *service_of(Ctx *c, const uint8_t *p, const uint8_t *end, int depth) {
    static const char KEY[] = "service.name";
    Field f, last;
    Range key, value, hit_value = {EMPTY, EMPTY};
    int r, has, hit = 0;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (!IS(f, 1, WT_LEN)) continue;
        if (parse_kv(c, f.data, f.data + f.len, depth + 1, &key, &value, &has) < 0) return NULL;
        if ((size_t)(key.end - key.p) == sizeof KEY - 1 && memcmp(key.p, KEY, sizeof KEY - 1) == 0) {
            hit = has;
            hit_value = value;
        }
    }
    if (r < 0) return NULL;
    const uint8_t *run;
    int member = 0;
    if (hit && last_member(c, hit_value.p, hit_value.end, depth + 2, &last, &run, &member) < 0) return NULL;
    if (member && last.len > 0 && last.num == 1) return str_of(last.data, last.data + last.len);
    if (member && last.len > 0 && last.num == 7) {
        c->out.len = 0;
        if (put_base64(&c->out, last.data, last.len) < 0) return NULL;
        PyObject *text = PyUnicode_DecodeASCII(c->out.data + 1, (Py_ssize_t)c->out.len - 2, NULL);  /* unquoted */
        c->out.len = 0;
        return text;
    }
    Py_INCREF(UNKNOWN_SERVICE);
    return UNKNOWN_SERVICE;
}

static int render_event(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Field f;
    int r, attrs = 0;
    uint64_t time = 0;
    Range name = {EMPTY, EMPTY};
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (IS(f, 1, WT_I64)) time = f.v;
        else if (IS(f, 2, WT_LEN)) {
            if (check_utf8(c, f.data, f.len) < 0) return -1;
            name = RANGE_OF(f);
        } else if (IS(f, 3, WT_LEN)) attrs = 1;
    }
    if (r < 0) return -1;
    if (PUTS(b, "{\"time_ns\":") < 0 || put_u64(b, time) < 0 || PUTS(b, ",\"name\":") < 0 ||
        put_json_str(c, b, name.p, (size_t)(name.end - name.p)) < 0 || PUTS(b, ",\"attributes\":") < 0)
        return -1;
    if (attrs ? render_object(c, b, p, end, 3, depth) : PUTS(b, "{}")) return -1;
    return putc_(b, '}');
}

static int render_link(Ctx *c, Buf *b, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Field f;
    int r, attrs = 0;
    Range tid = {EMPTY, EMPTY}, sid = {EMPTY, EMPTY}, state = {EMPTY, EMPTY};
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (IS(f, 1, WT_LEN)) tid = RANGE_OF(f);
        else if (IS(f, 2, WT_LEN)) sid = RANGE_OF(f);
        else if (IS(f, 3, WT_LEN)) {
            if (check_utf8(c, f.data, f.len) < 0) return -1;
            state = RANGE_OF(f);
        } else if (IS(f, 4, WT_LEN)) attrs = 1;
    }
    if (r < 0) return -1;
    if (PUTS(b, "{\"trace_id\":\"") < 0 || put_hex(b, tid.p, (size_t)(tid.end - tid.p)) < 0 ||
        PUTS(b, "\",\"span_id\":\"") < 0 || put_hex(b, sid.p, (size_t)(sid.end - sid.p)) < 0 ||
        PUTS(b, "\",\"trace_state\":") < 0 || put_json_str(c, b, state.p, (size_t)(state.end - state.p)) < 0 ||
        PUTS(b, ",\"attributes\":") < 0)
        return -1;
    if (attrs ? render_object(c, b, p, end, 4, depth) : PUTS(b, "{}")) return -1;
    return putc_(b, '}');
}

/* A JSON list of the repeated message field `num` of [p, end), each written by `one`. */
static PyObject *json_list(Ctx *c, const uint8_t *p, const uint8_t *end, uint32_t num, int depth,
                           int (*one)(Ctx *, Buf *, const uint8_t *, const uint8_t *, int)) {
    Field f;
    int r, first = 1;
    c->out.len = 0;
    if (putc_(&c->out, '[') < 0) return NULL;
    while ((r = next(c, &p, end, depth, &f)) > 0) {
        if (!IS(f, num, WT_LEN)) continue;
        if (!first && putc_(&c->out, ',') < 0) return NULL;
        first = 0;
        if (one(c, &c->out, f.data, f.data + f.len, depth + 1) < 0) return NULL;
    }
    if (r < 0 || putc_(&c->out, ']') < 0) return NULL;
    return take_json(c);
}

static int do_span(Ctx *c, PyObject **cols, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Range tid = {EMPTY, EMPTY}, sid = {EMPTY, EMPTY}, pid = {EMPTY, EMPTY}, state = {EMPTY, EMPTY},
          name = {EMPTY, EMPTY}, status = {EMPTY, EMPTY}, message = {EMPTY, EMPTY};
    uint64_t start = 0, stop = 0;
    int32_t kind = 0, code = 0;
    int attrs = 0, events = 0, links = 0, statuses = 0, r;
    Field f;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        switch (f.num) {
        case 1: if (f.wt == WT_LEN) tid = RANGE_OF(f); break;
        case 2: if (f.wt == WT_LEN) sid = RANGE_OF(f); break;
        case 3:
            if (f.wt == WT_LEN) {
                if (check_utf8(c, f.data, f.len) < 0) return -1;
                state = RANGE_OF(f);
            }
            break;
        case 4: if (f.wt == WT_LEN) pid = RANGE_OF(f); break;
        case 5:
            if (f.wt == WT_LEN) {
                if (check_utf8(c, f.data, f.len) < 0) return -1;
                name = RANGE_OF(f);
            }
            break;
        case 6: if (f.wt == WT_VARINT) kind = (int32_t)(uint32_t)f.v; break;  /* enums are int32 */
        case 7: if (f.wt == WT_I64) start = f.v; break;
        case 8: if (f.wt == WT_I64) stop = f.v; break;
        case 9: attrs |= f.wt == WT_LEN; break;
        case 11: events |= f.wt == WT_LEN; break;
        case 13: links |= f.wt == WT_LEN; break;
        case 15:
            if (f.wt == WT_LEN && statuses++ == 0) status = RANGE_OF(f);
            break;
        default: break;
        }
    }
    if (r < 0) return -1;
    if (statuses) {
        if (statuses > 1 && gather(c, p, end, 15, depth + 1, &status) < 0) return -1;
        if (depth + 1 > MAX_DEPTH) return fail(c, "nesting too deep");
        for (const uint8_t *q = status.p; (r = next(c, &q, status.end, depth + 1, &f)) > 0;) {
            if (IS(f, 2, WT_LEN)) {
                if (check_utf8(c, f.data, f.len) < 0) return -1;
                message = RANGE_OF(f);
            } else if (IS(f, 3, WT_VARINT)) code = (int32_t)(uint32_t)f.v;
        }
        if (r < 0) return -1;
    }
    PyObject *attributes = EMPTY_OBJECT, *event_list = EMPTY_LIST, *link_list = EMPTY_LIST;
    Py_INCREF(attributes);
    Py_INCREF(event_list);
    Py_INCREF(link_list);
    int rc = -1;
    if (attrs) {
        Py_DECREF(attributes);
        c->out.len = 0;
        attributes = render_object(c, &c->out, p, end, 9, depth) < 0 ? NULL : take_json(c);
        if (attributes == NULL) goto done;
    }
    if (events) {
        Py_DECREF(event_list);
        if ((event_list = json_list(c, p, end, 11, depth, render_event)) == NULL) goto done;
    }
    if (links) {
        Py_DECREF(link_list);
        if ((link_list = json_list(c, p, end, 13, depth, render_link)) == NULL) goto done;
    }
    if (append(cols[C_TRACE_ID], hex_of(tid.p, tid.end)) < 0 ||
        append(cols[C_SPAN_ID], hex_of(sid.p, sid.end)) < 0 ||
        append(cols[C_PARENT], hex_of(pid.p, pid.end)) < 0 ||
        append(cols[C_STATE], str_of(state.p, state.end)) < 0 ||
        append(cols[C_NAME], str_of(name.p, name.end)) < 0 ||
        append(cols[C_KIND], PyLong_FromLong(kind)) < 0 ||
        append(cols[C_START], PyLong_FromUnsignedLongLong(start)) < 0 ||
        append(cols[C_END], PyLong_FromUnsignedLongLong(stop)) < 0 ||
        append(cols[C_DURATION], PyLong_FromUnsignedLongLong(stop > start ? stop - start : 0)) < 0 ||
        append(cols[C_CODE], PyLong_FromLong(code)) < 0 ||
        append(cols[C_MESSAGE], str_of(message.p, message.end)) < 0 ||
        PyList_Append(cols[C_ATTRIBUTES], attributes) < 0 ||
        PyList_Append(cols[C_EVENTS], event_list) < 0 ||
        PyList_Append(cols[C_LINKS], link_list) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(attributes);
    Py_XDECREF(event_list);
    Py_XDECREF(link_list);
    return rc;
}

static int check_strings(Ctx *c, const uint8_t *p, const uint8_t *end, int depth) {
    /* An EntityRef: all four fields are strings (two of them repeated). */
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Field f;
    int r;
    while ((r = next(c, &p, end, depth, &f)) > 0)
        if (f.num <= 4 && f.wt == WT_LEN && check_utf8(c, f.data, f.len) < 0) return -1;
    return r;
}

/* Per scope: its name and version, shared by its spans like the resource's values. */
static int do_scope_spans(Ctx *c, PyObject **cols, const uint8_t *p, const uint8_t *end, int depth,
                          PyObject *service, PyObject *resource, Py_ssize_t *rows) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Range scope = {EMPTY, EMPTY}, name = {EMPTY, EMPTY}, version = {EMPTY, EMPTY};
    int scopes = 0, r;
    Field f;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (IS(f, 1, WT_LEN) && scopes++ == 0) scope = RANGE_OF(f);
        else if (IS(f, 3, WT_LEN) && check_utf8(c, f.data, f.len) < 0) return -1;  /* schema_url */
    }
    if (r < 0) return -1;
    if (scopes) {
        if (scopes > 1 && gather(c, p, end, 1, depth + 1, &scope) < 0) return -1;
        if (depth + 1 > MAX_DEPTH) return fail(c, "nesting too deep");
        int attrs = 0;
        for (const uint8_t *q = scope.p; (r = next(c, &q, scope.end, depth + 1, &f)) > 0;) {
            if (f.wt != WT_LEN) continue;
            if (f.num == 1 || f.num == 2) {
                if (check_utf8(c, f.data, f.len) < 0) return -1;
                if (f.num == 1) name = RANGE_OF(f); else version = RANGE_OF(f);
            } else if (f.num == 3) attrs = 1;
        }
        if (r < 0) return -1;
        if (attrs) {  /* not stored, but upb parsed them: validate */
            c->out.len = 0;
            if (render_object(c, &c->out, scope.p, scope.end, 3, depth + 1) < 0) return -1;
        }
    }
    PyObject *scope_name = str_of(name.p, name.end);
    PyObject *scope_version = scope_name ? str_of(version.p, version.end) : NULL;
    int rc = -1;
    if (scope_version == NULL) goto done;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (!IS(f, 2, WT_LEN)) continue;
        if (do_span(c, cols, f.data, f.data + f.len, depth + 1) < 0 ||
            PyList_Append(cols[C_SERVICE], service) < 0 || PyList_Append(cols[C_RESOURCE], resource) < 0 ||
            PyList_Append(cols[C_SCOPE_NAME], scope_name) < 0 || PyList_Append(cols[C_SCOPE_VERSION], scope_version) < 0)
            goto done;
        ++*rows;
    }
    rc = r;
done:
    Py_XDECREF(scope_name);
    Py_XDECREF(scope_version);
    return rc;
}

/* Per resource: the service name and the resource JSON, computed once for all its spans. */
static int do_resource_spans(Ctx *c, PyObject **cols, const uint8_t *p, const uint8_t *end, int depth, Py_ssize_t *rows) {
    if (depth > MAX_DEPTH) return fail(c, "nesting too deep");
    Range res = {EMPTY, EMPTY};
    int resources = 0, attrs = 0, r;
    Field f;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;) {
        if (IS(f, 1, WT_LEN) && resources++ == 0) res = RANGE_OF(f);
        else if (IS(f, 3, WT_LEN) && check_utf8(c, f.data, f.len) < 0) return -1;  /* schema_url */
    }
    if (r < 0) return -1;
    if (resources) {
        if (resources > 1 && gather(c, p, end, 1, depth + 1, &res) < 0) return -1;
        if (depth + 1 > MAX_DEPTH) return fail(c, "nesting too deep");
        for (const uint8_t *q = res.p; (r = next(c, &q, res.end, depth + 1, &f)) > 0;) {
            if (IS(f, 1, WT_LEN)) attrs = 1;
            else if (IS(f, 3, WT_LEN) && check_strings(c, f.data, f.data + f.len, depth + 2) < 0) return -1;
        }
        if (r < 0) return -1;
    }
    PyObject *resource, *service;
    if (attrs) {
        c->out.len = 0;
        if (render_object(c, &c->out, res.p, res.end, 1, depth + 1) < 0) return -1;
        if ((resource = take_json(c)) == NULL) return -1;
        service = service_of(c, res.p, res.end, depth + 1);
    } else {
        resource = EMPTY_OBJECT;
        service = UNKNOWN_SERVICE;
        Py_INCREF(resource);
        Py_INCREF(service);
    }
    int rc = -1;
    if (service == NULL) goto done;
    for (const uint8_t *q = p; (r = next(c, &q, end, depth, &f)) > 0;)
        if (IS(f, 2, WT_LEN) && do_scope_spans(c, cols, f.data, f.data + f.len, depth + 1, service, resource, rows) < 0)
            goto done;
    rc = r;
done:
    Py_DECREF(resource);
    Py_XDECREF(service);
    return rc;
}

static PyObject *spans(PyObject *self, PyObject *arg) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    Ctx c = {{NULL, 0, 0}, NULL, NULL};
    PyObject *cols[NCOL] = {NULL}, *columns = NULL, *result = NULL;
    Py_ssize_t rows = 0;
    int r = 0;
    if ((columns = PyDict_New()) == NULL) goto done;
    for (int i = 0; i < NCOL; i++) {
        if ((cols[i] = PyList_New(0)) == NULL || PyDict_SetItemString(columns, COLUMN_NAMES[i], cols[i]) < 0)
            goto done;
    }
    const uint8_t *p = buf.buf, *end = p + buf.len;
    Field f;
    while ((r = next(&c, &p, end, 0, &f)) > 0)
        if (IS(f, 1, WT_LEN) && (r = do_resource_spans(&c, cols, f.data, f.data + f.len, 1, &rows)) < 0) break;
    if (r < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, c.err ? c.err : "malformed request");
        goto done;
    }
    result = Py_BuildValue("(On)", columns, rows);
done:
    for (int i = 0; i < NCOL; i++) Py_XDECREF(cols[i]);
    Py_XDECREF(columns);
    PyMem_Free(c.out.data);
    while (c.arena) {
        Block *next_block = c.arena->next;
        PyMem_Free(c.arena);
        c.arena = next_block;
    }
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"spans", spans, METH_O,
     "spans(data) -> (columns, rows): the span table's columns (a dict of lists) of a serialized\n"
     "ExportTraceServiceRequest, as otelflow.store.ingest computes them; ValueError when malformed"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spancols", NULL, -1, methods};

PyMODINIT_FUNC PyInit__spancols(void) {
    if (EMPTY_OBJECT == NULL) {
        EMPTY_OBJECT = PyUnicode_InternFromString("{}");
        EMPTY_LIST = PyUnicode_InternFromString("[]");
        UNKNOWN_SERVICE = PyUnicode_InternFromString("unknown_service");
        if (!EMPTY_OBJECT || !EMPTY_LIST || !UNKNOWN_SERVICE) return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *names = PyTuple_New(NCOL);
    if (names == NULL) { Py_DECREF(m); return NULL; }
    for (int i = 0; i < NCOL; i++) {
        PyObject *s = PyUnicode_FromString(COLUMN_NAMES[i]);
        if (s == NULL) { Py_DECREF(names); Py_DECREF(m); return NULL; }
        PyTuple_SET_ITEM(names, i, s);
    }
    if (PyModule_AddObject(m, "COLUMNS", names) < 0) { Py_DECREF(names); Py_DECREF(m); return NULL; }
    return m;
}
