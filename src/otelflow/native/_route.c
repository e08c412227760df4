/* Cuts encoded OTLP requests by trace ID without parsing them into messages.
 *
 * split_traces: one ExportTraceServiceRequest per worker.
 *
 * With several workers, tail sampling needs every span of a trace in one worker. Cutting the
 * parsed message costs a Python loop and a message copy per span; here the spans' encoded bytes are
 * copied as they are, each under a copy of its resource and scope envelope (every field of those
 * messages other than the nested list). A span goes to worker
 * (the last 8 bytes of its trace ID, big-endian) mod count, as the Python fallback computes it.
 * by_trace_id: one request per (resource, scope, trace ID), for the kafka exporter's keyed records
 * (traces and logs share the layout: field 1 resources, 2 scopes, 2 items; only the ID field differs).
 * When the bytes are not the structure expected the answer is None and the caller cuts the parsed
 * message instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_varint.h"

typedef struct { const uint8_t *p; Py_ssize_t n; } Chunk;          /* one whole encoded field */
typedef struct { Py_ssize_t env0, nenv, span0, nspan; } Scope;      /* ranges in envs / spans */
typedef struct { Py_ssize_t env0, nenv, scope0, nscope; } Resource; /* ranges in envs / scopes */
typedef struct { Chunk field; const uint8_t *tid; Py_ssize_t tidlen; int owner; } SpanRef;

typedef struct {
    Chunk *envs; Py_ssize_t nenvs, capenvs;
    SpanRef *spans; Py_ssize_t nspans, capspans;
    Scope *scopes; Py_ssize_t nscopes, capscopes;
    Resource *res; Py_ssize_t nres, capres;
} Parsed;

#define GROW(arr, n, cap, type)                                                        \
    do {                                                                               \
        if ((n) == (cap)) {                                                            \
            Py_ssize_t c2 = (cap) ? (cap) * 2 : 16;                                    \
            type *a2 = PyMem_Realloc((arr), (size_t)c2 * sizeof(type));                 \
            if (!a2) return -2;                                                        \
            (arr) = a2; (cap) = c2;                                                    \
        }                                                                              \
    } while (0)

/* Reads one field at *p: its number, wire type, the whole field [start, *p) and, for LEN fields,
 * the payload. Returns 0 when the bytes do not hold a field. */
static int next_field(const uint8_t **p, const uint8_t *end, uint32_t *field, int *wt,
                      const uint8_t **payload, Py_ssize_t *plen) {
    uint64_t key, v;
    if (!read_varint(p, end, &key)) return 0;
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return read_varint(p, end, &v);
    case 1: if (end - *p < 8) return 0; *p += 8; return 1;
    case 5: if (end - *p < 4) return 0; *p += 4; return 1;
    case 2:
        if (!read_varint(p, end, &v) || v > (uint64_t)(end - *p)) return 0;
        *payload = *p; *plen = (Py_ssize_t)v; *p += v;
        return 1;
    default: return 0;
    }
}

/* Finds the trace ID (field `id_field`) of a span or log record; 0 when the bytes are not a message. */
static int trace_id_of(const uint8_t *p, const uint8_t *end, uint32_t id_field, SpanRef *out) {
    uint32_t field; int wt; const uint8_t *pl = NULL; Py_ssize_t n = 0;
    out->tid = NULL;
    out->tidlen = 0;
    while (p < end) {
        if (!next_field(&p, end, &field, &wt, &pl, &n)) return 0;
        if (field == id_field && wt == 2) { out->tid = pl; out->tidlen = n; }
    }
    return 1;
}

static int owner_of(const SpanRef *sr, int count) {
    uint64_t v = 0;
    for (Py_ssize_t i = sr->tidlen > 8 ? sr->tidlen - 8 : 0; i < sr->tidlen; i++) v = (v << 8) | sr->tid[i];
    return (int)(v % (uint64_t)count); /* no trace ID: as an empty one, worker 0 */
}

/* Walks one message whose field `child` (LEN) holds nested items; everything else is envelope. */
static int parse_scope(Parsed *ps, const uint8_t *p, const uint8_t *end, int count, uint32_t id_field) {
    Scope sc = {ps->nenvs, 0, ps->nspans, 0};
    while (p < end) {
        const uint8_t *start = p, *pl = NULL; uint32_t field; int wt; Py_ssize_t n = 0;
        if (!next_field(&p, end, &field, &wt, &pl, &n)) return -1;
        if (field == 2 && wt == 2) {
            GROW(ps->spans, ps->nspans, ps->capspans, SpanRef);
            SpanRef *sr = &ps->spans[ps->nspans];
            if (!trace_id_of(pl, pl + n, id_field, sr)) return -1;
            sr->field = (Chunk){start, p - start};
            sr->owner = count > 0 ? owner_of(sr, count) : 0;
            ps->nspans++;
            sc.nspan++;
        } else {
            GROW(ps->envs, ps->nenvs, ps->capenvs, Chunk);
            ps->envs[ps->nenvs++] = (Chunk){start, p - start};
            sc.nenv++;
        }
    }
    GROW(ps->scopes, ps->nscopes, ps->capscopes, Scope);
    ps->scopes[ps->nscopes++] = sc;
    return 0;
}

static int parse(Parsed *ps, const uint8_t *p, const uint8_t *end, int count, uint32_t id_field) {
    while (p < end) {
        const uint8_t *pl = NULL; uint32_t field; int wt; Py_ssize_t n = 0;
        if (!next_field(&p, end, &field, &wt, &pl, &n)) return -1;
        if (field != 1 || wt != 2) return -1; /* the request holds nothing but resource_spans */
        Resource r = {0, 0, ps->nscopes, 0};
        /* envelope chunks of the resource first, then its scopes (which add their own chunks) */
        const uint8_t *q = pl, *qend = pl + n;
        r.env0 = ps->nenvs;
        while (q < qend) {
            const uint8_t *start = q, *sp = NULL; uint32_t f; int w; Py_ssize_t sn = 0;
            if (!next_field(&q, qend, &f, &w, &sp, &sn)) return -1;
            if (f == 2 && w == 2) continue;
            GROW(ps->envs, ps->nenvs, ps->capenvs, Chunk);
            ps->envs[ps->nenvs++] = (Chunk){start, q - start};
            r.nenv++;
        }
        q = pl;
        while (q < qend) {
            const uint8_t *sp = NULL; uint32_t f; int w; Py_ssize_t sn = 0;
            if (!next_field(&q, qend, &f, &w, &sp, &sn)) return -1;
            if (f == 2 && w == 2) {
                int rc = parse_scope(ps, sp, sp + sn, count, id_field);
                if (rc) return rc;
                r.nscope++;
            }
        }
        GROW(ps->res, ps->nres, ps->capres, Resource);
        ps->res[ps->nres++] = r;
    }
    return 0;
}

/* Writes a LEN field's key and length, then the envelope chunks [first, first + n). */
static uint8_t *put_envelope(uint8_t *o, uint8_t key, Py_ssize_t len, const Parsed *ps, Py_ssize_t first, Py_ssize_t n) {
    *o++ = key;
    o = put_varint(o, (uint64_t)len);
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(o, ps->envs[first + i].p, (size_t)ps->envs[first + i].n);
        o += ps->envs[first + i].n;
    }
    return o;
}

static Py_ssize_t env_size(const Parsed *ps, Py_ssize_t first, Py_ssize_t n) {
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) total += ps->envs[first + i].n;
    return total;
}

/* Size of scope s's part for worker w (0: it has no span there). */
static Py_ssize_t scope_size(const Parsed *ps, const Scope *s, int w) {
    Py_ssize_t total = 0, any = 0;
    for (Py_ssize_t i = 0; i < s->nspan; i++) {
        const SpanRef *sr = &ps->spans[s->span0 + i];
        if (sr->owner == w) { total += sr->field.n; any = 1; }
    }
    return any ? total + env_size(ps, s->env0, s->nenv) : 0;
}

static PyObject *emit(const Parsed *ps, int w) {
    /* sizes first, so each length prefix is written once */
    Py_ssize_t total = 0;
    Py_ssize_t *rsize = PyMem_Calloc((size_t)(ps->nres ? ps->nres : 1), sizeof(Py_ssize_t));
    Py_ssize_t *ssize = PyMem_Calloc((size_t)(ps->nscopes ? ps->nscopes : 1), sizeof(Py_ssize_t));
    if (!rsize || !ssize) { PyMem_Free(rsize); PyMem_Free(ssize); return PyErr_NoMemory(); }
    for (Py_ssize_t r = 0; r < ps->nres; r++) {
        const Resource *res = &ps->res[r];
        Py_ssize_t inner = 0;
        for (Py_ssize_t k = 0; k < res->nscope; k++) {
            Py_ssize_t si = res->scope0 + k, s = scope_size(ps, &ps->scopes[si], w);
            ssize[si] = s;
            if (s) inner += 1 + varint_len((uint64_t)s) + s;
        }
        if (inner) {
            rsize[r] = inner + env_size(ps, res->env0, res->nenv);
            total += 1 + varint_len((uint64_t)rsize[r]) + rsize[r];
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out) {
        uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
        for (Py_ssize_t r = 0; r < ps->nres; r++) {
            if (!rsize[r]) continue;
            const Resource *res = &ps->res[r];
            o = put_envelope(o, 0x0a, rsize[r], ps, res->env0, res->nenv); /* field 1, LEN */
            for (Py_ssize_t k = 0; k < res->nscope; k++) {
                Py_ssize_t si = res->scope0 + k;
                if (!ssize[si]) continue;
                const Scope *sc = &ps->scopes[si];
                o = put_envelope(o, 0x12, ssize[si], ps, sc->env0, sc->nenv); /* field 2, LEN */
                for (Py_ssize_t i = 0; i < sc->nspan; i++) {
                    const SpanRef *sr = &ps->spans[sc->span0 + i];
                    if (sr->owner != w) continue;
                    memcpy(o, sr->field.p, (size_t)sr->field.n);
                    o += sr->field.n;
                }
            }
        }
    }
    PyMem_Free(rsize);
    PyMem_Free(ssize);
    return out;
}

static PyObject *split_traces(PyObject *self, PyObject *args) {
    Py_buffer buf;
    int count;
    if (!PyArg_ParseTuple(args, "y*i", &buf, &count)) return NULL;
    if (count < 1 || count > 4096) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "count must be between 1 and 4096");
        return NULL;
    }
    Parsed ps = {0};
    const uint8_t *p = (const uint8_t *)buf.buf;
    int rc = parse(&ps, p, p + buf.len, count, 1);
    PyObject *result = NULL;
    if (rc == -2) {
        PyErr_NoMemory();
    } else if (rc != 0) {
        result = Py_NewRef(Py_None);
    } else {
        int first = ps.nspans ? ps.spans[0].owner : 0, single = 1;
        for (Py_ssize_t i = 1; i < ps.nspans && single; i++) single = ps.spans[i].owner == first;
        if (single) {
            result = PyLong_FromLong(first);
        } else {
            result = PyList_New(count);
            for (int w = 0; result && w < count; w++) {
                int has = 0;
                for (Py_ssize_t i = 0; i < ps.nspans && !has; i++) has = ps.spans[i].owner == w;
                PyObject *part = has ? emit(&ps, w) : Py_NewRef(Py_None);
                if (!part) { Py_CLEAR(result); break; }
                PyList_SET_ITEM(result, w, part);
            }
        }
    }
    PyMem_Free(ps.envs);
    PyMem_Free(ps.spans);
    PyMem_Free(ps.scopes);
    PyMem_Free(ps.res);
    PyBuffer_Release(&buf);
    return result;
}

static uint64_t id_hash(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* One record per (resource, scope, trace ID), in order of first appearance, as the Python cut in
 * exporters/kafka/partition.py makes them (upstream's batchpersignal split). */
static PyObject *emit_groups(const Parsed *ps, PyObject *out) {
    Py_ssize_t cap = 16;
    while (cap < 2 * ps->nspans) cap *= 2;
    Py_ssize_t *table = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    Py_ssize_t *next = PyMem_Malloc((size_t)(ps->nspans ? ps->nspans : 1) * sizeof(Py_ssize_t));
    Py_ssize_t *heads = PyMem_Malloc((size_t)(ps->nspans ? ps->nspans : 1) * sizeof(Py_ssize_t));
    Py_ssize_t *last = PyMem_Malloc((size_t)(ps->nspans ? ps->nspans : 1) * sizeof(Py_ssize_t));
    if (!table || !next || !heads || !last) { out = NULL; PyErr_NoMemory(); goto done; }
    for (Py_ssize_t r = 0; r < ps->nres; r++) {
        const Resource *res = &ps->res[r];
        Py_ssize_t renv = env_size(ps, res->env0, res->nenv);
        for (Py_ssize_t k = 0; k < res->nscope; k++) {
            const Scope *sc = &ps->scopes[res->scope0 + k];
            Py_ssize_t senv = env_size(ps, sc->env0, sc->nenv);
            for (Py_ssize_t i = 0; i < cap; i++) table[i] = -1;
            /* heads[g]: the first span of group g (groups in order of appearance); last[g]: its last
             * span so far; next[]: chains each group's spans; table: trace ID hash -> group */
            Py_ssize_t nheads = 0;
            for (Py_ssize_t i = 0; i < sc->nspan; i++) {
                Py_ssize_t si = sc->span0 + i;
                const SpanRef *sr = &ps->spans[si];
                next[si] = -1;
                Py_ssize_t slot = (Py_ssize_t)(id_hash(sr->tid, sr->tidlen) & (uint64_t)(cap - 1));
                for (;;) {
                    Py_ssize_t g = table[slot];
                    if (g < 0) {
                        table[slot] = nheads;
                        heads[nheads] = si;
                        last[nheads] = si;
                        nheads++;
                        break;
                    }
                    const SpanRef *h = &ps->spans[heads[g]];
                    if (h->tidlen == sr->tidlen && (sr->tidlen == 0 || memcmp(h->tid, sr->tid, (size_t)sr->tidlen) == 0)) {
                        next[last[g]] = si;
                        last[g] = si;
                        break;
                    }
                    slot = (slot + 1) & (cap - 1);
                }
            }
            for (Py_ssize_t g = 0; g < nheads; g++) {
                Py_ssize_t ssz = senv;
                for (Py_ssize_t si = heads[g]; si >= 0; si = next[si]) ssz += ps->spans[si].field.n;
                Py_ssize_t rsz = renv + 1 + varint_len((uint64_t)ssz) + ssz;
                Py_ssize_t total = 1 + varint_len((uint64_t)rsz) + rsz;
                PyObject *body = PyBytes_FromStringAndSize(NULL, total);
                if (!body) { out = NULL; goto done; }
                uint8_t *o = (uint8_t *)PyBytes_AS_STRING(body);
                o = put_envelope(o, 0x0a, rsz, ps, res->env0, res->nenv);
                o = put_envelope(o, 0x12, ssz, ps, sc->env0, sc->nenv);
                for (Py_ssize_t si = heads[g]; si >= 0; si = next[si]) {
                    memcpy(o, ps->spans[si].field.p, (size_t)ps->spans[si].field.n);
                    o += ps->spans[si].field.n;
                }
                const SpanRef *h = &ps->spans[heads[g]];
                PyObject *item = Py_BuildValue("(y#N)", h->tid ? (const char *)h->tid : "", h->tidlen, body);
                if (!item || PyList_Append(out, item) < 0) { Py_XDECREF(item); out = NULL; goto done; }
                Py_DECREF(item);
            }
        }
    }
done:
    PyMem_Free(table);
    PyMem_Free(next);
    PyMem_Free(heads);
    PyMem_Free(last);
    return out;
}

static PyObject *by_trace_id(PyObject *self, PyObject *args) {
    Py_buffer buf;
    unsigned int id_field;
    if (!PyArg_ParseTuple(args, "y*I", &buf, &id_field)) return NULL;
    Parsed ps = {0};
    const uint8_t *p = (const uint8_t *)buf.buf;
    int rc = parse(&ps, p, p + buf.len, 0, id_field);
    PyObject *result = NULL;
    if (rc == -2) {
        PyErr_NoMemory();
    } else if (rc != 0) {
        result = Py_NewRef(Py_None);
    } else {
        PyObject *list = PyList_New(0);
        if (list && emit_groups(&ps, list) == NULL) Py_CLEAR(list);
        result = list;
    }
    PyMem_Free(ps.envs);
    PyMem_Free(ps.spans);
    PyMem_Free(ps.scopes);
    PyMem_Free(ps.res);
    PyBuffer_Release(&buf);
    return result;
}

/* ---- tail_cut: the tail_sampling processor's fragments ------------------------------------------
 * Per (ResourceSpans, trace ID), in order of the trace's first span: the resource header (field 1
 * of ResourceSpans as received, or nothing; one bytes object per ResourceSpans), the body (the
 * trace's ScopeSpans entries as field-2 fields: a ScopeSpans holding one trace and no schema URL
 * whole, else its scope field and that trace's spans), the span count and whether a span has no
 * parent. The same as processors/tail_sampling/store.py cut() on the parsed message when the bytes
 * are canonically encoded; None when a resource or scope appears twice (merged when parsed) or the
 * bytes are not the structure expected. */
typedef struct { const uint8_t *whole; Py_ssize_t wlen; const uint8_t *head; Py_ssize_t hlen; int single; } TScope;
typedef struct { const uint8_t *f; Py_ssize_t n; const uint8_t *tid; Py_ssize_t tidlen; Py_ssize_t scope; int root; } TSpan;
typedef struct {
    TScope *scopes; Py_ssize_t nscopes, capscopes;
    TSpan *spans; Py_ssize_t nspans, capspans;
} TParsed;

/* One span: its trace ID (field 1) and whether its parent span ID (field 4) is empty. */
static int tail_span(const uint8_t *p, const uint8_t *end, TSpan *out) {
    uint32_t field; int wt; const uint8_t *pl = NULL; Py_ssize_t n = 0;
    out->tid = NULL; out->tidlen = 0; out->root = 1;
    while (p < end) {
        if (!next_field(&p, end, &field, &wt, &pl, &n)) return 0;
        if (field == 1 && wt == 2) { out->tid = pl; out->tidlen = n; }
        else if (field == 4 && wt == 2) out->root = n == 0;
    }
    return 1;
}

/* The scopes and spans of one ResourceSpans payload; -1: not understood, -2: no memory. */
static int tail_scopes(TParsed *tp, const uint8_t *p, const uint8_t *end, const uint8_t **res, Py_ssize_t *reslen) {
    int seen_res = 0;
    tp->nscopes = tp->nspans = 0;
    *res = NULL; *reslen = 0;
    while (p < end) {
        const uint8_t *start = p, *pl = NULL; uint32_t field; int wt; Py_ssize_t n = 0;
        if (!next_field(&p, end, &field, &wt, &pl, &n)) return -1;
        if (field == 1 && wt == 2) {
            if (seen_res++) return -1;
            *res = start; *reslen = p - start;
        } else if (field == 2 && wt == 2) {
            TScope sc = {start, p - start, NULL, 0, 1};
            int seen_scope = 0;
            Py_ssize_t schema = 0, first = tp->nspans;
            const uint8_t *q = pl, *qend = pl + n;
            while (q < qend) {
                const uint8_t *qs = q, *ql = NULL; uint32_t f; int w; Py_ssize_t qn = 0;
                if (!next_field(&q, qend, &f, &w, &ql, &qn)) return -1;
                if (f == 1 && w == 2) {
                    if (seen_scope++) return -1;
                    sc.head = qs; sc.hlen = q - qs;
                } else if (f == 3 && w == 2) {
                    schema = qn;
                } else if (f == 2 && w == 2) {
                    GROW(tp->spans, tp->nspans, tp->capspans, TSpan);
                    TSpan *sp = &tp->spans[tp->nspans];
                    if (!tail_span(ql, ql + qn, sp)) return -1;
                    sp->f = qs; sp->n = q - qs; sp->scope = tp->nscopes;
                    tp->nspans++;
                }
            }
            if (tp->nspans == first) continue; /* no spans: nothing to keep */
            sc.single = schema == 0;
            for (Py_ssize_t i = first + 1; i < tp->nspans && sc.single; i++) {
                const TSpan *a = &tp->spans[first], *b = &tp->spans[i];
                sc.single = a->tidlen == b->tidlen && (a->tidlen == 0 || memcmp(a->tid, b->tid, (size_t)a->tidlen) == 0);
            }
            GROW(tp->scopes, tp->nscopes, tp->capscopes, TScope);
            tp->scopes[tp->nscopes++] = sc;
        }
    }
    return 0;
}

/* Appends one tuple per trace of the ResourceSpans in tp to out; -1 on a Python error. */
static int tail_emit(const TParsed *tp, PyObject *head, PyObject *out) {
    Py_ssize_t n = tp->nspans, cap = 16;
    if (n == 0) return 0;
    while (cap < 2 * n) cap *= 2;
    Py_ssize_t *table = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    Py_ssize_t *next = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    Py_ssize_t *heads = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    Py_ssize_t *last = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    int rc = -1;
    if (!table || !next || !heads || !last) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < cap; i++) table[i] = -1;
    Py_ssize_t ngroups = 0;
    for (Py_ssize_t si = 0; si < n; si++) {
        const TSpan *sp = &tp->spans[si];
        next[si] = -1;
        Py_ssize_t slot = (Py_ssize_t)(id_hash(sp->tid, sp->tidlen) & (uint64_t)(cap - 1));
        for (;;) {
            Py_ssize_t g = table[slot];
            if (g < 0) { table[slot] = ngroups; heads[ngroups] = last[ngroups] = si; ngroups++; break; }
            const TSpan *h = &tp->spans[heads[g]];
            if (h->tidlen == sp->tidlen && (sp->tidlen == 0 || memcmp(h->tid, sp->tid, (size_t)sp->tidlen) == 0)) {
                next[last[g]] = si; last[g] = si; break;
            }
            slot = (slot + 1) & (cap - 1);
        }
    }
    for (Py_ssize_t g = 0; g < ngroups; g++) {
        /* a group's spans are in request order, so its pieces are runs of one scope */
        Py_ssize_t total = 0, count = 0;
        int root = 0;
        for (Py_ssize_t si = heads[g]; si >= 0;) {
            const TScope *sc = &tp->scopes[tp->spans[si].scope];
            if (sc->single) {
                total += sc->wlen;
                for (Py_ssize_t s = tp->spans[si].scope; si >= 0 && tp->spans[si].scope == s; si = next[si]) {
                    count++; root |= tp->spans[si].root;
                }
                continue;
            }
            Py_ssize_t inner = sc->hlen;
            for (Py_ssize_t s = tp->spans[si].scope; si >= 0 && tp->spans[si].scope == s; si = next[si]) {
                inner += tp->spans[si].n; count++; root |= tp->spans[si].root;
            }
            total += 1 + varint_len((uint64_t)inner) + inner;
        }
        PyObject *body = PyBytes_FromStringAndSize(NULL, total);
        if (!body) goto done;
        uint8_t *o = (uint8_t *)PyBytes_AS_STRING(body);
        for (Py_ssize_t si = heads[g]; si >= 0;) {
            Py_ssize_t s = tp->spans[si].scope;
            const TScope *sc = &tp->scopes[s];
            if (sc->single) {
                memcpy(o, sc->whole, (size_t)sc->wlen); o += sc->wlen;
                while (si >= 0 && tp->spans[si].scope == s) si = next[si];
                continue;
            }
            Py_ssize_t inner = sc->hlen;
            for (Py_ssize_t t = si; t >= 0 && tp->spans[t].scope == s; t = next[t]) inner += tp->spans[t].n;
            *o++ = 0x12;
            o = put_varint(o, (uint64_t)inner);
            if (sc->hlen) { memcpy(o, sc->head, (size_t)sc->hlen); o += sc->hlen; }
            for (; si >= 0 && tp->spans[si].scope == s; si = next[si]) {
                memcpy(o, tp->spans[si].f, (size_t)tp->spans[si].n); o += tp->spans[si].n;
            }
        }
        const TSpan *h = &tp->spans[heads[g]];
        PyObject *item = Py_BuildValue("(y#ONnO)", h->tid ? (const char *)h->tid : "", h->tidlen, head, body, count,
                                       root ? Py_True : Py_False);
        if (!item || PyList_Append(out, item) < 0) { Py_XDECREF(item); goto done; }
        Py_DECREF(item);
    }
    rc = 0;
done:
    PyMem_Free(table); PyMem_Free(next); PyMem_Free(heads); PyMem_Free(last);
    return rc;
}

static PyObject *tail_cut(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    TParsed tp = {0};
    const uint8_t *p = (const uint8_t *)buf.buf, *end = p + buf.len;
    PyObject *out = PyList_New(0);
    while (out && p < end) {
        const uint8_t *pl = NULL, *res = NULL; uint32_t field; int wt; Py_ssize_t n = 0, reslen = 0;
        if (!next_field(&p, end, &field, &wt, &pl, &n) || field != 1 || wt != 2) { Py_SETREF(out, Py_NewRef(Py_None)); break; }
        int rc = tail_scopes(&tp, pl, pl + n, &res, &reslen);
        if (rc == -2) { Py_CLEAR(out); PyErr_NoMemory(); break; }
        if (rc != 0) { Py_SETREF(out, Py_NewRef(Py_None)); break; }
        if (tp.nspans == 0) continue;
        PyObject *head = PyBytes_FromStringAndSize((const char *)res, reslen);
        if (!head) { Py_CLEAR(out); break; }
        rc = tail_emit(&tp, head, out);
        Py_DECREF(head);
        if (rc < 0) Py_CLEAR(out);
    }
    PyMem_Free(tp.scopes);
    PyMem_Free(tp.spans);
    PyBuffer_Release(&buf);
    return out;
}

static PyMethodDef methods[] = {
    {"by_trace_id", by_trace_id, METH_VARARGS,
     "by_trace_id(request_bytes, id_field) -> [(trace_id, encoded request)] one per (resource, scope, trace ID) "
     "(id_field 1 for spans, 9 for log records); None when the bytes are not understood"},
    {"tail_cut", tail_cut, METH_VARARGS,
     "tail_cut(request_bytes) -> [(trace_id, resource_header, body, span_count, has_root)] per (ResourceSpans, "
     "trace ID), as tail_sampling's store.cut; None when the bytes are not understood"},
    {"split_traces", split_traces, METH_VARARGS,
     "split_traces(request_bytes, count) -> the one worker (int) when every span goes there, else a list of "
     "`count` encoded requests (None where a worker gets nothing); None when the bytes are not understood"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_route", NULL, -1, methods};

PyMODINIT_FUNC PyInit__route(void) { return PyModule_Create(&module); }
