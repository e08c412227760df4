/* Checks the trace and span ID lengths of an OTLP export request on its wire bytes.
 *
 * Upstream's decoder rejects a trace ID that is not 0 or 16 bytes and a span ID that is not 0 or
 * 8 bytes. Checking that on the parsed protobuf costs a Python attribute access per span; walking
 * the encoded bytes once costs a few microseconds per request. The walk follows only the fields
 * that lead to IDs and skips everything else. It never decides that bytes are malformed protobuf:
 * when the structure is not what it expects it answers "unknown" and the caller checks the parsed
 * message instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "_varint.h"

enum { OK = 0, BAD_ID = 1, UNKNOWN = -1 };

/* A field of interest: either a nested message (child >= 0) or an ID of a fixed length. */
typedef struct { uint32_t field; int child; int id_len; } Rule;
typedef struct { const Rule *rules; int n; } Node;

/* Node indexes */
enum {
    T_REQ, T_RES, T_SCOPE, T_SPAN, T_LINK,
    L_REQ, L_RES, L_SCOPE, L_REC,
    M_REQ, M_RES, M_SCOPE, M_METRIC, M_NUMBERS, M_HISTOS, M_EXPOS, M_NUM_PT, M_HIST_PT, M_EXPO_PT, M_EXEMPLAR,
};

static const Rule t_req[] = {{1, T_RES, 0}};
static const Rule t_res[] = {{2, T_SCOPE, 0}};
static const Rule t_scope[] = {{2, T_SPAN, 0}};
static const Rule t_span[] = {{1, -1, 16}, {2, -1, 8}, {4, -1, 8}, {13, T_LINK, 0}};
static const Rule t_link[] = {{1, -1, 16}, {2, -1, 8}};
static const Rule l_req[] = {{1, L_RES, 0}};
static const Rule l_res[] = {{2, L_SCOPE, 0}};
static const Rule l_scope[] = {{2, L_REC, 0}};
static const Rule l_rec[] = {{9, -1, 16}, {10, -1, 8}};
static const Rule m_req[] = {{1, M_RES, 0}};
static const Rule m_res[] = {{2, M_SCOPE, 0}};
static const Rule m_scope[] = {{2, M_METRIC, 0}};
static const Rule m_metric[] = {{5, M_NUMBERS, 0}, {7, M_NUMBERS, 0}, {9, M_HISTOS, 0}, {10, M_EXPOS, 0}};
static const Rule m_numbers[] = {{1, M_NUM_PT, 0}};
static const Rule m_histos[] = {{1, M_HIST_PT, 0}};
static const Rule m_expos[] = {{1, M_EXPO_PT, 0}};
static const Rule m_num_pt[] = {{5, M_EXEMPLAR, 0}};
static const Rule m_hist_pt[] = {{8, M_EXEMPLAR, 0}};
static const Rule m_expo_pt[] = {{11, M_EXEMPLAR, 0}};
static const Rule m_exemplar[] = {{5, -1, 16}, {4, -1, 8}};

#define NODE(r) {r, (int)(sizeof(r) / sizeof(r[0]))}
static const Node NODES[] = {
    NODE(t_req), NODE(t_res), NODE(t_scope), NODE(t_span), NODE(t_link),
    NODE(l_req), NODE(l_res), NODE(l_scope), NODE(l_rec),
    NODE(m_req), NODE(m_res), NODE(m_scope), NODE(m_metric), NODE(m_numbers), NODE(m_histos), NODE(m_expos),
    NODE(m_num_pt), NODE(m_hist_pt), NODE(m_expo_pt), NODE(m_exemplar),
};

static int walk(const uint8_t *p, const uint8_t *end, int node, int depth) {
    if (depth > 16) return UNKNOWN;
    const Node *n = &NODES[node];
    while (p < end) {
        uint64_t key, len;
        if (!read_varint(&p, end, &key)) return UNKNOWN;
        uint32_t field = (uint32_t)(key >> 3);
        switch (key & 7) {
        case 0: if (!read_varint(&p, end, &len)) return UNKNOWN; continue;
        case 1: if (end - p < 8) return UNKNOWN; p += 8; continue;
        case 5: if (end - p < 4) return UNKNOWN; p += 4; continue;
        case 2: break;
        default: return UNKNOWN;
        }
        if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p)) return UNKNOWN;
        const uint8_t *sub = p;
        p += len;
        for (int i = 0; i < n->n; i++) {
            const Rule *r = &n->rules[i];
            if (r->field != field) continue;
            if (r->child < 0) {
                if (len != 0 && len != (uint64_t)r->id_len) return BAD_ID;
            } else {
                int rc = walk(sub, sub + len, r->child, depth + 1);
                if (rc != OK) return rc;
            }
            break;
        }
    }
    return OK;
}

static PyObject *check_ids(PyObject *self, PyObject *args) {
    int root;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "iy*", &root, &buf)) return NULL;
    if (root != T_REQ && root != L_REQ && root != M_REQ) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "unknown root");
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = walk((const uint8_t *)buf.buf, (const uint8_t *)buf.buf + buf.len, root, 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromLong(rc);
}

static PyMethodDef methods[] = {
    {"check_ids", check_ids, METH_VARARGS,
     "check_ids(root, data) -> 0 ok, 1 an ID of the wrong length, -1 structure not understood"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyModule_AddIntConstant(m, "TRACES", T_REQ);
    PyModule_AddIntConstant(m, "LOGS", L_REQ);
    PyModule_AddIntConstant(m, "METRICS", M_REQ);
    return m;
}
