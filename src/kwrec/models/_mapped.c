/* Hot-path reads of kwrec's memory-mapped string tables (see columns.py and key_index.py).
 *
 * Why C: an autocomplete look-up is one binary search over millions of variable-length keys and the
 * decoding of about ten strings. In Python each step of that costs a microsecond or more of interpreter
 * overhead; here the whole look-up costs about as much as one Python call. No library does this on
 * mapped data without first loading every key into memory (marisa-trie needs seconds to build per
 * million keys, which training cannot afford daily for every customer).
 *
 * A table is a UTF-8 blob plus n+1 little-endian uint64 offsets (string i is blob[off[i]:off[i+1]]).
 * Every offset read is checked against the blob, so a damaged table raises ValueError and can never
 * make this code read outside its buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_buffer blob;
    Py_buffer off;
    Py_ssize_t n; /* strings in the table */
} Table;

static void table_release(Table *t) {
    PyBuffer_Release(&t->blob);
    PyBuffer_Release(&t->off);
}

static int table_open(Table *t, PyObject *blob, PyObject *off) {
    if (PyObject_GetBuffer(blob, &t->blob, PyBUF_SIMPLE) < 0) return -1;
    if (PyObject_GetBuffer(off, &t->off, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&t->blob);
        return -1;
    }
    if (t->off.len % 8 != 0 || t->off.len < 8) {
        table_release(t);
        PyErr_SetString(PyExc_ValueError, "string table offsets: expected n+1 uint64 values");
        return -1;
    }
    t->n = t->off.len / 8 - 1;
    return 0;
}

static inline uint64_t off_at(const Table *t, Py_ssize_t i) {
    uint64_t v;
    memcpy(&v, (const char *)t->off.buf + i * 8, 8); /* unaligned-safe; the files are little-endian */
    return v;
}

/* String i as (pointer, length); -1 with ValueError set when the offsets do not fit the blob. */
static int table_get(const Table *t, Py_ssize_t i, const char **s, Py_ssize_t *len) {
    uint64_t a = off_at(t, i), b = off_at(t, i + 1);
    if (a > b || b > (uint64_t)t->blob.len) {
        PyErr_Format(PyExc_ValueError, "string table is damaged at entry %zd", i);
        return -1;
    }
    *s = (const char *)t->blob.buf + a;
    *len = (Py_ssize_t)(b - a);
    return 0;
}

/* Byte-wise comparison of string i with target: <0, 0, >0 like memcmp on unequal lengths. */
static int table_cmp(const Table *t, Py_ssize_t i, const char *target, Py_ssize_t tlen, int *out) {
    const char *s;
    Py_ssize_t len;
    if (table_get(t, i, &s, &len) < 0) return -1;
    int c = memcmp(s, target, (size_t)(len < tlen ? len : tlen));
    *out = c != 0 ? c : (len < tlen ? -1 : (len > tlen ? 1 : 0));
    return 0;
}

/* First position in [lo, hi) whose string is >= target; -1 on a damaged table. */
static Py_ssize_t table_bisect(const Table *t, const char *target, Py_ssize_t tlen, Py_ssize_t lo,
                               Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int c;
        if (table_cmp(t, mid, target, tlen, &c) < 0) return -1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* lo into [0, n], hi into [lo, n], like slice bounds. */
static void clamp_range(const Table *t, Py_ssize_t *lo, Py_ssize_t *hi) {
    *lo = *lo < 0 ? 0 : (*lo > t->n ? t->n : *lo);
    *hi = *hi < *lo ? *lo : (*hi > t->n ? t->n : *hi);
}

PyDoc_STRVAR(lower_bound_doc,
"lower_bound(blob, offsets, target, lo=0, hi=n, /) -> int\n\n"
"First position in [lo, hi) of a sorted string table whose string is >= target (bytes order).");

static PyObject *lower_bound(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 3 || nargs > 5) {
        PyErr_SetString(PyExc_TypeError, "lower_bound(blob, offsets, target, lo=0, hi=n)");
        return NULL;
    }
    Table t;
    Py_buffer target;
    if (table_open(&t, args[0], args[1]) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &target, PyBUF_SIMPLE) < 0) {
        table_release(&t);
        return NULL;
    }
    Py_ssize_t lo = 0, hi = t.n;
    PyObject *result = NULL;
    if (nargs > 3 && (lo = PyLong_AsSsize_t(args[3])) == -1 && PyErr_Occurred()) goto done;
    if (nargs > 4 && (hi = PyLong_AsSsize_t(args[4])) == -1 && PyErr_Occurred()) goto done;
    clamp_range(&t, &lo, &hi);
    if ((lo = table_bisect(&t, (const char *)target.buf, target.len, lo, hi)) >= 0)
        result = PyLong_FromSsize_t(lo);
done:
    PyBuffer_Release(&target);
    table_release(&t);
    return result;
}

/* Whether string i starts with prefix; -1 on a damaged table. */
static int table_startswith(const Table *t, Py_ssize_t i, const char *p, Py_ssize_t plen) {
    const char *s;
    Py_ssize_t len;
    if (table_get(t, i, &s, &len) < 0) return -1;
    return len >= plen && memcmp(s, p, (size_t)plen) == 0;
}

PyDoc_STRVAR(prefix_run_doc,
"prefix_run(blob, offsets, prefix, /) -> tuple[int, int]\n\n"
"The [lo, hi) positions of a sorted string table's strings that start with prefix. The end is\n"
"found by galloping from the start: a short run costs a few comparisons next to each other.");

static PyObject *prefix_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "prefix_run(blob, offsets, prefix)");
        return NULL;
    }
    Table t;
    Py_buffer prefix;
    if (table_open(&t, args[0], args[1]) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &prefix, PyBUF_SIMPLE) < 0) {
        table_release(&t);
        return NULL;
    }
    PyObject *result = NULL;
    const char *p = (const char *)prefix.buf;
    Py_ssize_t lo = table_bisect(&t, p, prefix.len, 0, t.n);
    if (lo < 0) goto done;
    Py_ssize_t end = lo; /* the run is [lo, end) */
    int m = lo < t.n ? table_startswith(&t, lo, p, prefix.len) : 0;
    if (m < 0) goto done;
    if (m) {
        /* string `inside` is in the run, string `outside` is not (or outside == n) */
        Py_ssize_t inside = lo, outside, step = 1;
        for (;;) {
            outside = lo + step;
            if (outside >= t.n) {
                outside = t.n;
                break;
            }
            if ((m = table_startswith(&t, outside, p, prefix.len)) < 0) goto done;
            if (!m) break;
            inside = outside;
            step *= 2;
        }
        Py_ssize_t a = inside + 1, b = outside;
        while (a < b) {
            Py_ssize_t mid = a + (b - a) / 2;
            if ((m = table_startswith(&t, mid, p, prefix.len)) < 0) goto done;
            if (m)
                a = mid + 1;
            else
                b = mid;
        }
        end = a;
    }
    result = Py_BuildValue("(nn)", lo, end);
done:
    PyBuffer_Release(&prefix);
    table_release(&t);
    return result;
}

/* ids: any sequence of ints, each checked against the table size. premade (a list or NULL): an item
 * premade[i] that is not None is returned as it is instead of building the pair for id i. */
static PyObject *take(const Table *t, PyObject *ids, const Py_buffer *scores, PyObject *cls,
                      PyObject *premade) {
    PyObject *seq = PySequence_Fast(ids, "ids must be a sequence of ints");
    if (seq == NULL) return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyList_New(k);
    if (out == NULL) goto fail;
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_ssize_t i = PyLong_AsSsize_t(items[j]);
        if (i == -1 && PyErr_Occurred()) goto fail;
        if (i < 0 || i >= t->n) {
            PyErr_Format(PyExc_IndexError, "string id %zd out of range (table has %zd)", i, t->n);
            goto fail;
        }
        if (premade != NULL && i < PyList_GET_SIZE(premade) && PyList_GET_ITEM(premade, i) != Py_None) {
            PyObject *ready = PyList_GET_ITEM(premade, i);
            Py_INCREF(ready);
            PyList_SET_ITEM(out, j, ready);
            continue;
        }
        const char *s;
        Py_ssize_t len;
        if (table_get(t, i, &s, &len) < 0) goto fail;
        PyObject *str = PyUnicode_DecodeUTF8(s, len, "strict");
        if (str == NULL) goto fail;
        if (scores == NULL) {
            PyList_SET_ITEM(out, j, str);
            continue;
        }
        double v;
        memcpy(&v, (const char *)scores->buf + i * 8, 8);
        PyObject *score = PyFloat_FromDouble(v);
        /* A NamedTuple is a tuple subclass: allocate it directly, as tuple.__new__ would. */
        PyObject *pair = score ? ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 2) : NULL;
        if (pair == NULL) {
            Py_DECREF(str);
            Py_XDECREF(score);
            goto fail;
        }
        PyTuple_SET_ITEM(pair, 0, str);
        PyTuple_SET_ITEM(pair, 1, score);
        PyList_SET_ITEM(out, j, pair);
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(out);
    Py_DECREF(seq);
    return NULL;
}

PyDoc_STRVAR(strings_doc,
"strings(blob, offsets, ids, /) -> list[str]\n\n"
"The strings with these ids, decoded from UTF-8.");

static PyObject *strings(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "strings(blob, offsets, ids)");
        return NULL;
    }
    Table t;
    if (table_open(&t, args[0], args[1]) < 0) return NULL;
    PyObject *out = take(&t, args[2], NULL, NULL, NULL);
    table_release(&t);
    return out;
}

PyDoc_STRVAR(scored_doc,
"scored(blob, offsets, scores, ids, cls, premade=None, /) -> list[cls]\n\n"
"cls(string, score) for each id: scores is a float64 column parallel to the table and cls a\n"
"2-field tuple subclass (a NamedTuple), built without calling its Python constructor.\n"
"premade: a list whose item i, unless None, is the answer for id i (built once, shared).");

static PyObject *scored(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "scored(blob, offsets, scores, ids, cls, premade=None)");
        return NULL;
    }
    PyObject *cls = args[4];
    PyObject *premade = nargs == 6 && args[5] != Py_None ? args[5] : NULL;
    if (premade != NULL && !PyList_CheckExact(premade)) {
        PyErr_SetString(PyExc_TypeError, "premade must be a list or None");
        return NULL;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a tuple subclass");
        return NULL;
    }
    Table t;
    Py_buffer scores;
    if (table_open(&t, args[0], args[1]) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &scores, PyBUF_SIMPLE) < 0) {
        table_release(&t);
        return NULL;
    }
    PyObject *out = NULL;
    if (scores.len != t.n * 8)
        PyErr_Format(PyExc_ValueError, "scores: expected %zd float64 values", t.n);
    else
        out = take(&t, args[3], &scores, cls, premade);
    PyBuffer_Release(&scores);
    table_release(&t);
    return out;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

PyDoc_STRVAR(smallest_distinct_doc,
"smallest_distinct(values, start, end, limit, /) -> list[int]\n\n"
"The limit smallest distinct values of a uint32 column's slice [start, end), ascending.");

static PyObject *smallest_distinct(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "smallest_distinct(values, start, end, limit)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    Py_buffer values;
    if (PyObject_GetBuffer(args[0], &values, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    uint32_t *copy = NULL;
    Py_ssize_t size = values.len / 4;
    if (start < 0 || end > size || start > end) {
        PyErr_Format(PyExc_ValueError, "slice [%zd, %zd) outside a column of %zd values", start, end, size);
        goto done;
    }
    Py_ssize_t n = end - start;
    copy = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    if (copy == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(copy, (const char *)values.buf + start * 4, (size_t)n * 4);
    qsort(copy, (size_t)n, sizeof(uint32_t), cmp_u32);
    out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < n && PyList_GET_SIZE(out) < limit; i++) {
        if (i > 0 && copy[i] == copy[i - 1]) continue;
        PyObject *v = PyLong_FromUnsignedLong(copy[i]);
        if (v == NULL || PyList_Append(out, v) < 0) Py_CLEAR(out);
        Py_XDECREF(v);
    }
done:
    PyMem_Free(copy);
    PyBuffer_Release(&values);
    return out;
}

static PyMethodDef methods[] = {
    {"lower_bound", (PyCFunction)(void (*)(void))lower_bound, METH_FASTCALL, lower_bound_doc},
    {"prefix_run", (PyCFunction)(void (*)(void))prefix_run, METH_FASTCALL, prefix_run_doc},
    {"strings", (PyCFunction)(void (*)(void))strings, METH_FASTCALL, strings_doc},
    {"scored", (PyCFunction)(void (*)(void))scored, METH_FASTCALL, scored_doc},
    {"smallest_distinct", (PyCFunction)(void (*)(void))smallest_distinct, METH_FASTCALL,
     smallest_distinct_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kwrec.models._mapped",
    "Hot-path reads of memory-mapped string tables (binary search, decoding).", -1, methods,
};

PyMODINIT_FUNC PyInit__mapped(void) { return PyModule_Create(&module); }
