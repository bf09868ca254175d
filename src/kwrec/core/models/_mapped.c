/* Hot-path reads of kwrec's memory-mapped string tables (see columns.py and key_index.py).
 *
 * Why C: an autocomplete look-up is one binary search over millions of variable-length keys and the
 * decoding of about ten strings. In Python each step of that costs a microsecond or more of interpreter
 * overhead; here the whole look-up costs about as much as one Python call. No library does this on
 * mapped data without first loading every key into memory or building its own structure (marisa-trie
 * took 5.5 s for the 3.4M keys of a 1M-query customer here, which the daily training cannot afford).
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

/* The run [*lo, *hi) of strings starting with p. The end is found by galloping from the start, so a
 * short run costs a few comparisons next to each other instead of a second binary search. */
static int table_prefix_run(const Table *t, const char *p, Py_ssize_t plen, Py_ssize_t *lo, Py_ssize_t *hi) {
    Py_ssize_t start = table_bisect(t, p, plen, 0, t->n);
    if (start < 0) return -1;
    *lo = *hi = start;
    int m = start < t->n ? table_startswith(t, start, p, plen) : 0;
    if (m <= 0) return m;
    /* string `inside` is in the run; string `outside` is not, or outside == n */
    Py_ssize_t inside = start, outside, step = 1;
    for (;;) {
        outside = start + step;
        if (outside >= t->n) {
            outside = t->n;
            break;
        }
        if ((m = table_startswith(t, outside, p, plen)) < 0) return -1;
        if (!m) break;
        inside = outside;
        step *= 2;
    }
    Py_ssize_t a = inside + 1, b = outside;
    while (a < b) {
        Py_ssize_t mid = a + (b - a) / 2;
        if ((m = table_startswith(t, mid, p, plen)) < 0) return -1;
        if (m)
            a = mid + 1;
        else
            b = mid;
    }
    *hi = a;
    return 0;
}

PyDoc_STRVAR(prefix_run_doc,
"prefix_run(blob, offsets, prefix, /) -> tuple[int, int]\n\n"
"The [lo, hi) positions of a sorted string table's strings that start with prefix.");

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
    Py_ssize_t lo, hi;
    PyObject *result = NULL;
    if (table_prefix_run(&t, (const char *)prefix.buf, prefix.len, &lo, &hi) == 0)
        result = Py_BuildValue("(nn)", lo, hi);
    PyBuffer_Release(&prefix);
    table_release(&t);
    return result;
}

/* Byte length of the UTF-8 character that starts with lead. */
static inline Py_ssize_t utf8_char_len(unsigned char lead) {
    return lead < 0x80 ? 1 : (lead < 0xE0 ? 2 : (lead < 0xF0 ? 3 : 4));
}

/* The distinct characters that follow p in some string of [lo, hi) (a range that holds every string
 * starting with p), in order, at most limit (<= 256): written to out (UTF-8, room for 4 * limit
 * bytes), their count returned, -1 on a damaged table. target: scratch of plen + 5 bytes.
 * Jumps from one child to the next with a binary search each. */
static Py_ssize_t table_next_chars(const Table *t, const char *p, Py_ssize_t plen, Py_ssize_t lo, Py_ssize_t hi,
                                   Py_ssize_t limit, char *out, Py_ssize_t *out_len, char *target) {
    Py_ssize_t found = 0;
    *out_len = 0;
    /* target = prefix + one character + 0xFF: the first string past every string with that child */
    memcpy(target, p, (size_t)plen);
    Py_ssize_t pos = table_bisect(t, p, plen, lo, hi);
    while (pos >= 0 && pos < hi && found < limit) {
        const char *s;
        Py_ssize_t len;
        if (table_get(t, pos, &s, &len) < 0) return -1;
        if (len < plen || memcmp(s, p, (size_t)plen) != 0) break;
        if (len == plen) { /* the prefix itself is a string: step over it */
            pos++;
            continue;
        }
        Py_ssize_t clen = utf8_char_len((unsigned char)s[plen]);
        if (plen + clen > len) break; /* a truncated character: not UTF-8 */
        memcpy(out + *out_len, s + plen, (size_t)clen);
        *out_len += clen;
        found++;
        memcpy(target + plen, s + plen, (size_t)clen);
        target[plen + clen] = (char)0xFF;
        pos = table_bisect(t, target, plen + clen + 1, pos, hi);
    }
    return pos < 0 ? -1 : found;
}

PyDoc_STRVAR(next_chars_doc,
"next_chars(blob, offsets, prefix, limit, /) -> str\n\n"
"Distinct characters that follow prefix in some string of a sorted string table, in order, at most\n"
"limit of them. Jumps from one child to the next with a binary search each, so the cost depends on\n"
"the number of children, not on the number of strings under the prefix.");

static PyObject *next_chars(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "next_chars(blob, offsets, prefix, limit)");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 0) limit = 0;
    if (limit > 256) limit = 256;
    Table t;
    Py_buffer prefix;
    if (table_open(&t, args[0], args[1]) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &prefix, PyBUF_SIMPLE) < 0) {
        table_release(&t);
        return NULL;
    }
    PyObject *result = NULL;
    char out[256 * 4];
    Py_ssize_t out_len = 0;
    char *target = PyMem_Malloc((size_t)prefix.len + 5);
    if (target == NULL) {
        PyErr_NoMemory();
    } else if (table_next_chars(&t, (const char *)prefix.buf, prefix.len, 0, t.n, limit, out, &out_len, target) >= 0) {
        result = PyUnicode_DecodeUTF8(out, out_len, "ignore");
    }
    PyMem_Free(target);
    PyBuffer_Release(&prefix);
    table_release(&t);
    return result;
}

/* cls(string i, scores[i]) for each i in ids (any sequence of ints, each checked against the table
 * size). premade (a list or NULL): an item premade[i] that is not None is returned as it is instead. */
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

/* The limit smallest distinct values of v[0:n], ascending, as a list of ints. */
static PyObject *smallest_distinct(const uint32_t *v, Py_ssize_t n, Py_ssize_t limit) {
    uint32_t *copy = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    if (copy == NULL) return PyErr_NoMemory();
    memcpy(copy, v, (size_t)n * sizeof(uint32_t));
    qsort(copy, (size_t)n, sizeof(uint32_t), cmp_u32);
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < n && PyList_GET_SIZE(out) < limit; i++) {
        if (i > 0 && copy[i] == copy[i - 1]) continue;
        PyObject *x = PyLong_FromUnsignedLong(copy[i]);
        if (x == NULL || PyList_Append(out, x) < 0) Py_CLEAR(out);
        Py_XDECREF(x);
    }
    PyMem_Free(copy);
    return out;
}

static inline uint32_t u32_at(const Py_buffer *b, Py_ssize_t i) {
    uint32_t v;
    memcpy(&v, (const char *)b->buf + i * 4, 4);
    return v;
}

static inline uint64_t u64_at(const Py_buffer *b, Py_ssize_t i) {
    uint64_t v;
    memcpy(&v, (const char *)b->buf + i * 8, 8);
    return v;
}

#define NO_ID 0xFFFFFFFFu /* pads a precomputed row (see layout.py) */

/* ---- TopIds: the best keyword ids under a key prefix ------------------------------------------ */

typedef struct {
    PyObject_HEAD
    Table keys;        /* sorted search keys */
    Py_buffer idoff;   /* uint64, keys.n + 1: ids of key i are ids[idoff[i]:idoff[i+1]] */
    Py_buffer ids;     /* uint32 keyword ids, ascending = best first within each key */
    Table heavy;       /* sorted prefixes with a precomputed row */
    Py_buffer top;     /* uint32 rows x topk: the best ids of each heavy prefix, NO_ID-padded */
    Py_ssize_t topk;
    int opened;        /* buffers held, for dealloc: 0..4 */
} TopIds;

static void TopIds_dealloc(TopIds *self) {
    if (self->opened >= 1) table_release(&self->keys);
    if (self->opened >= 2) PyBuffer_Release(&self->idoff);
    if (self->opened >= 3) PyBuffer_Release(&self->ids);
    if (self->opened >= 4) {
        table_release(&self->heavy);
        PyBuffer_Release(&self->top);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *TopIds_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *kb, *ko, *io, *ids, *hb, *ho, *top;
    Py_ssize_t topk;
    if (!PyArg_ParseTuple(args, "OOOOOOOn:TopIds", &kb, &ko, &io, &ids, &hb, &ho, &top, &topk)) return NULL;
    TopIds *self = (TopIds *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->topk = topk;
    if (table_open(&self->keys, kb, ko) < 0) goto fail;
    self->opened = 1;
    if (PyObject_GetBuffer(io, &self->idoff, PyBUF_SIMPLE) < 0) goto fail;
    self->opened = 2;
    if (PyObject_GetBuffer(ids, &self->ids, PyBUF_SIMPLE) < 0) goto fail;
    self->opened = 3;
    if (table_open(&self->heavy, hb, ho) < 0) goto fail;
    if (PyObject_GetBuffer(top, &self->top, PyBUF_SIMPLE) < 0) {
        table_release(&self->heavy);
        goto fail;
    }
    self->opened = 4;
    if (topk < 1 || self->idoff.len != (self->keys.n + 1) * 8 || self->ids.len % 4 != 0 ||
        self->top.len != self->heavy.n * topk * 4) {
        PyErr_SetString(PyExc_ValueError, "TopIds: column sizes do not fit together (damaged index)");
        goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

/* Row of a precomputed prefix, -1 when it has none, -2 on error. */
static Py_ssize_t heavy_row(const TopIds *self, const char *k, Py_ssize_t klen) {
    Py_ssize_t r = table_bisect(&self->heavy, k, klen, 0, self->heavy.n);
    if (r < 0) return -2;
    if (r == self->heavy.n) return -1;
    int c;
    if (table_cmp(&self->heavy, r, k, klen, &c) < 0) return -2;
    return c == 0 ? r : -1;
}

static const char *key_utf8(PyObject *key, Py_ssize_t *len) {
    if (!PyUnicode_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "key must be a str");
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(key, len); /* cached on the str object by CPython */
}

PyDoc_STRVAR(TopIds_get_doc,
"get(key, limit, /) -> list[int]\n\n"
"The limit best keyword ids under keys starting with key, best first: the precomputed row of a\n"
"heavy prefix, else the smallest distinct ids of the key run.");

static PyObject *TopIds_get(TopIds *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, limit)");
        return NULL;
    }
    Py_ssize_t klen, limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    const char *k = key_utf8(args[0], &klen);
    if (k == NULL) return NULL;
    if (limit <= 0) return PyList_New(0);
    Py_ssize_t r = heavy_row(self, k, klen);
    if (r == -2) return NULL;
    if (r >= 0) {
        Py_ssize_t n = limit < self->topk ? limit : self->topk, base = r * self->topk;
        while (n > 0 && u32_at(&self->top, base + n - 1) == NO_ID) n--; /* padding is at the end */
        PyObject *out = PyList_New(n);
        for (Py_ssize_t j = 0; out != NULL && j < n; j++) {
            PyObject *x = PyLong_FromUnsignedLong(u32_at(&self->top, base + j));
            if (x == NULL) Py_CLEAR(out);
            else PyList_SET_ITEM(out, j, x);
        }
        return out;
    }
    Py_ssize_t lo, hi;
    if (table_prefix_run(&self->keys, k, klen, &lo, &hi) < 0) return NULL;
    uint64_t a = u64_at(&self->idoff, lo), b = u64_at(&self->idoff, hi);
    if (a > b || b > (uint64_t)(self->ids.len / 4)) {
        PyErr_SetString(PyExc_ValueError, "TopIds: id offsets are damaged");
        return NULL;
    }
    return smallest_distinct((const uint32_t *)self->ids.buf + a, (Py_ssize_t)(b - a), limit);
}

PyDoc_STRVAR(TopIds_row_doc,
"row(key, /) -> int\n\nThe precomputed row of key, or -1 when key is not a heavy prefix.");

static PyObject *TopIds_row(TopIds *self, PyObject *key) {
    Py_ssize_t klen;
    const char *k = key_utf8(key, &klen);
    if (k == NULL) return NULL;
    Py_ssize_t r = heavy_row(self, k, klen);
    return r == -2 ? NULL : PyLong_FromSsize_t(r);
}

/* Whether some string of [lo, hi) (a range that holds every string starting with p) starts with p;
 * -1 on a damaged table. */
static int table_has_prefix(const Table *t, const char *p, Py_ssize_t plen, Py_ssize_t lo, Py_ssize_t hi) {
    Py_ssize_t i = table_bisect(t, p, plen, lo, hi);
    if (i < 0) return -1;
    return i < hi ? table_startswith(t, i, p, plen) : 0;
}

#define TYPO_MAX_NEXT 64 /* characters tried after a head, as KeyIndex.next_chars */

PyDoc_STRVAR(TopIds_typo_keys_doc,
"typo_keys(ns, key, window, budget, /) -> tuple[list[str], int]\n\n"
"Keys one edit (deletion, transposition, substitution, insertion) away from key that start some\n"
"stored key under namespace ns, and the budget left. Edits are tried at the window positions\n"
"ending where key stops matching (that point first, then backwards); substitutions and insertions\n"
"only with characters that follow the head in some key. Each distinct edit checked costs one unit\n"
"of budget; the search stops when none is left.");

static PyObject *TopIds_typo_keys(TopIds *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "typo_keys(ns, key, window, budget)");
        return NULL;
    }
    Py_ssize_t nslen, klen;
    const char *ns = key_utf8(args[0], &nslen);
    if (ns == NULL) return NULL;
    const char *key = key_utf8(args[1], &klen);
    if (key == NULL) return NULL;
    Py_ssize_t window = PyLong_AsSsize_t(args[2]);
    if (window == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t budget = PyLong_AsSsize_t(args[3]);
    if (budget == -1 && PyErr_Occurred()) return NULL;
    const Table *t = &self->keys;

    /* byte offset of each character of key, and of its end */
    Py_ssize_t nch = 0;
    Py_ssize_t *at = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(klen + 1));
    /* one candidate: ns + key with at most one character more (<= 4 bytes) */
    Py_ssize_t cand_size = nslen + klen + 4;
    Py_ssize_t max_cands = 2 + 2 * TYPO_MAX_NEXT;
    char *cands = PyMem_Malloc((size_t)(cand_size * max_cands));
    Py_ssize_t *cand_len = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)max_cands);
    char *scratch = PyMem_Malloc((size_t)(cand_size + 5));
    char *target = PyMem_Malloc((size_t)(cand_size + 5)); /* next_chars' own scratch */
    PyObject *found = PyList_New(0);
    PyObject *result = NULL;
    if (at == NULL || cands == NULL || cand_len == NULL || scratch == NULL || target == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (found == NULL) goto done;
    for (Py_ssize_t b = 0; b < klen; b += utf8_char_len((unsigned char)key[b])) at[nch++] = b;
    at[nch] = klen;

    /* longest head of key (in characters) that starts some key: a typo is at or just before it */
    memcpy(scratch, ns, (size_t)nslen);
    Py_ssize_t lo = 0, hi = nch;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi + 1) / 2;
        memcpy(scratch + nslen, key, (size_t)at[mid]);
        int m = table_has_prefix(t, scratch, nslen + at[mid], 0, t->n);
        if (m < 0) goto done;
        if (m)
            lo = mid;
        else
            hi = mid - 1;
    }
    Py_ssize_t first = lo < nch - 1 ? lo : nch - 1, last = lo - window + 1 > 0 ? lo - window + 1 : 0;
    for (Py_ssize_t i = first; i >= last && budget > 0; i--) {
        const char *cur = key + at[i], *rest = key + at[i + 1];
        Py_ssize_t hlen = at[i], clen = at[i + 1] - at[i], rlen = klen - at[i + 1];
        Py_ssize_t n = 0;
#define CAND (cands + n * cand_size)
#define PUT(src, len) (memcpy(w, (src), (size_t)(len)), w += (len))
        char *w;
        /* deletion */
        w = CAND; PUT(ns, nslen); PUT(key, hlen); PUT(rest, rlen); cand_len[n] = w - CAND; n++;
        if (rlen > 0) { /* transposition */
            Py_ssize_t r0 = utf8_char_len((unsigned char)rest[0]);
            w = CAND; PUT(ns, nslen); PUT(key, hlen); PUT(rest, r0); PUT(cur, clen); PUT(rest + r0, rlen - r0);
            cand_len[n] = w - CAND; n++;
        }
        /* every edit at i keeps the head: its strings are one run, searched alone from here on */
        Py_ssize_t run_lo, run_hi;
        memcpy(scratch + nslen, key, (size_t)hlen);
        if (table_prefix_run(t, scratch, nslen + hlen, &run_lo, &run_hi) < 0) goto done;
        char next[TYPO_MAX_NEXT * 4];
        Py_ssize_t next_len;
        Py_ssize_t k = table_next_chars(t, scratch, nslen + hlen, run_lo, run_hi, TYPO_MAX_NEXT, next, &next_len, target);
        if (k < 0) goto done;
        for (Py_ssize_t b = 0; b < next_len;) {
            Py_ssize_t cl = utf8_char_len((unsigned char)next[b]);
            w = CAND; PUT(ns, nslen); PUT(key, hlen); PUT(next + b, cl); PUT(rest, rlen); /* substitution */
            cand_len[n] = w - CAND; n++;
            w = CAND; PUT(ns, nslen); PUT(key, hlen); PUT(next + b, cl); PUT(cur, clen); PUT(rest, rlen); /* insertion */
            cand_len[n] = w - CAND; n++;
            b += cl;
        }
#undef PUT
#undef CAND
        for (Py_ssize_t c = 0; c < n; c++) {
            const char *v = cands + c * cand_size;
            Py_ssize_t vlen = cand_len[c];
            if (vlen == nslen + klen && memcmp(v + nslen, key, (size_t)klen) == 0) continue; /* key itself */
            int dup = 0;
            for (Py_ssize_t d = 0; d < c && !dup; d++)
                dup = cand_len[d] == vlen && memcmp(cands + d * cand_size, v, (size_t)vlen) == 0;
            if (dup) continue;
            if (budget <= 0) break;
            budget--;
            int m = table_has_prefix(t, v, vlen, run_lo, run_hi);
            if (m < 0) goto done;
            if (m) {
                PyObject *text = PyUnicode_DecodeUTF8(v + nslen, vlen - nslen, "strict");
                if (text == NULL || PyList_Append(found, text) < 0) {
                    Py_XDECREF(text);
                    goto done;
                }
                Py_DECREF(text);
            }
        }
    }
    result = Py_BuildValue("(On)", found, budget);
done:
    Py_XDECREF(found);
    PyMem_Free(at);
    PyMem_Free(cands);
    PyMem_Free(cand_len);
    PyMem_Free(scratch);
    PyMem_Free(target);
    return result;
}

PyDoc_STRVAR(TopIds_key_heads_doc,
"key_heads(key, lengths, /) -> list[int]\n\n"
"Of the heads key[:n] for each n in lengths (ascending, in characters), the positions in lengths\n"
"of those that are themselves stored keys, up to the first head that starts no stored key. One\n"
"binary search per head, each from where the last ended (a longer head sorts at or after it).");

static PyObject *TopIds_key_heads(TopIds *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "key_heads(key, lengths: list[int])");
        return NULL;
    }
    Py_ssize_t klen;
    const char *k = key_utf8(args[0], &klen);
    if (k == NULL) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    const Table *t = &self->keys;
    Py_ssize_t n = PyList_GET_SIZE(args[1]), chars = 0, bytes = 0, lo = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t want = PyLong_AsSsize_t(PyList_GET_ITEM(args[1], i));
        if (want == -1 && PyErr_Occurred()) goto fail;
        if (want < chars) {
            PyErr_SetString(PyExc_ValueError, "key_heads: lengths must ascend");
            goto fail;
        }
        while (chars < want && bytes < klen) {
            bytes += utf8_char_len((unsigned char)k[bytes]);
            chars++;
        }
        if (chars < want || bytes > klen) break; /* longer than the key itself */
        if ((lo = table_bisect(t, k, bytes, lo, t->n)) < 0) goto fail;
        if (lo >= t->n) break;
        int c, starts = table_startswith(t, lo, k, bytes);
        if (starts < 0) goto fail;
        if (!starts) break;
        if (table_cmp(t, lo, k, bytes, &c) < 0) goto fail;
        if (c == 0) {
            PyObject *v = PyLong_FromSsize_t(i);
            if (v == NULL || PyList_Append(out, v) < 0) {
                Py_XDECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef TopIds_methods[] = {
    {"get", (PyCFunction)(void (*)(void))TopIds_get, METH_FASTCALL, TopIds_get_doc},
    {"row", (PyCFunction)TopIds_row, METH_O, TopIds_row_doc},
    {"typo_keys", (PyCFunction)(void (*)(void))TopIds_typo_keys, METH_FASTCALL, TopIds_typo_keys_doc},
    {"key_heads", (PyCFunction)(void (*)(void))TopIds_key_heads, METH_FASTCALL, TopIds_key_heads_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TopIdsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kwrec.core.models._mapped.TopIds",
    .tp_basicsize = sizeof(TopIds),
    .tp_dealloc = (destructor)TopIds_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("TopIds(keys_blob, keys_offsets, id_offsets, ids, heavy_blob, heavy_offsets, top, topk)\n\n"
                        "Best-first keyword ids under a key prefix, over a mapped key table and the\n"
                        "precomputed rows of its heavy prefixes. Holds its buffers open while it lives."),
    .tp_methods = TopIds_methods,
    .tp_new = TopIds_new,
};

static PyMethodDef methods[] = {
    {"lower_bound", (PyCFunction)(void (*)(void))lower_bound, METH_FASTCALL, lower_bound_doc},
    {"prefix_run", (PyCFunction)(void (*)(void))prefix_run, METH_FASTCALL, prefix_run_doc},
    {"next_chars", (PyCFunction)(void (*)(void))next_chars, METH_FASTCALL, next_chars_doc},
    {"scored", (PyCFunction)(void (*)(void))scored, METH_FASTCALL, scored_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kwrec.core.models._mapped",
    "Hot-path reads of memory-mapped string tables (binary search, decoding).", -1, methods,
};

PyMODINIT_FUNC PyInit__mapped(void) {
    if (PyType_Ready(&TopIdsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&TopIdsType);
    if (PyModule_AddObject(m, "TopIds", (PyObject *)&TopIdsType) < 0) {
        Py_DECREF(&TopIdsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
