/* blindmatch._native: the Python face of the batch curve code. Every batch runs with the
 * GIL released, split over native threads that take chunks of work from a shared counter;
 * each output element lands at its own index, so the bytes never depend on the threads. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(BM_HAVE_IFMA_PATH)
#include <cpuid.h>
#endif

#include "bm_curve.h"
#include "bm_sha2.h"

#define CHUNK 256
#define MAX_THREADS 64

typedef void (*x25519_fn)(const uint8_t *, const uint8_t *, uint8_t *, size_t);
typedef void (*h2c_fn)(const bm_h2c_job *, size_t, size_t, uint8_t *);

static x25519_fn x25519_impl = bm_x25519_batch_portable;
static h2c_fn h2c_impl = bm_h2c_batch_portable;
static const char *path_name = "portable";

/* One batch: optional hashing of messages into points, then each scalar over the points,
 * then optionally the 16-byte digests of a scalar's outputs. */
typedef struct {
    size_t n;
    const bm_h2c_job *h2c;       /* NULL: points are given */
    uint8_t *points;             /* n * 32: input, or where the hashed points go */
    size_t nscalars;
    const uint8_t *scalars;      /* nscalars * 32 */
    uint8_t **raw_out;           /* per scalar: n * 32 blinded points (or NULL: only h2c) */
    uint8_t **digest_out;        /* per scalar: n * 16 digests, or NULL */
    const uint8_t *prefix;
    size_t prefix_len;
    atomic_size_t next;
    atomic_size_t first_zero;    /* lowest index whose blinded point is all zero (or n) */
} batch_t;

static size_t first_zero_in(const uint8_t *pts, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint8_t acc = 0;
        for (int j = 0; j < 32; j++) acc |= pts[32 * i + j];
        if (!acc) return i;
    }
    return count;
}

static void note_zero(batch_t *b, size_t index) {
    size_t seen = atomic_load(&b->first_zero);
    while (index < seen && !atomic_compare_exchange_weak(&b->first_zero, &seen, index)) {
    }
}

static void digest_range(const uint8_t *pts, uint8_t *out, size_t count, const uint8_t *prefix,
                         size_t prefix_len) {
    bm_sha256 base;
    bm_sha256_init(&base);
    bm_sha256_update(&base, prefix, prefix_len);
    for (size_t i = 0; i < count; i++) {
        bm_sha256 c = base;
        uint8_t d[32];
        bm_sha256_update(&c, pts + 32 * i, 32);
        bm_sha256_final(&c, d);
        memcpy(out + 16 * i, d, 16);
    }
}

static void *batch_worker(void *arg) {
    batch_t *b = arg;
    for (;;) {
        size_t start = atomic_fetch_add(&b->next, CHUNK);
        if (start >= b->n) break;
        size_t stop = start + CHUNK < b->n ? start + CHUNK : b->n;
        size_t count = stop - start;
        if (b->h2c) h2c_impl(b->h2c, start, stop, b->points + 32 * start);
        for (size_t s = 0; s < b->nscalars; s++) {
            uint8_t *dst = b->raw_out[s] + 32 * start;
            x25519_impl(b->scalars + 32 * s, b->points + 32 * start, dst, count);
            size_t z = first_zero_in(dst, count);
            if (z < count) note_zero(b, start + z);
            if (b->digest_out && b->digest_out[s])
                digest_range(dst, b->digest_out[s] + 16 * start, count, b->prefix, b->prefix_len);
        }
    }
    return NULL;
}

/* Run the batch on up to `threads` threads (this one included); GIL must be released. */
static int run_batch(batch_t *b, int threads) {
    size_t chunks = (b->n + CHUNK - 1) / CHUNK;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((size_t)threads > chunks) threads = chunks ? (int)chunks : 1;
    pthread_t tid[MAX_THREADS];
    int started = 0;
    atomic_init(&b->next, 0);
    atomic_init(&b->first_zero, b->n);
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid[started], NULL, batch_worker, b) != 0) break;
        started++;
    }
    batch_worker(b);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    return 0;
}

/* --- argument helpers --------------------------------------------------------------------- */

/* A tuple of the messages (holding references while the GIL is released) plus pointers. */
typedef struct {
    PyObject *tuple;
    const uint8_t **ptrs;
    size_t *lens;
    size_t n;
} msgs_t;

static void msgs_free(msgs_t *m) {
    Py_XDECREF(m->tuple);
    PyMem_Free(m->ptrs);
    PyMem_Free(m->lens);
}

static int msgs_load(msgs_t *m, PyObject *seq) {
    memset(m, 0, sizeof *m);
    m->tuple = PySequence_Tuple(seq);
    if (!m->tuple) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(m->tuple);
    m->n = (size_t)n;
    m->ptrs = PyMem_Malloc(sizeof(*m->ptrs) * (n ? n : 1));
    m->lens = PyMem_Malloc(sizeof(*m->lens) * (n ? n : 1));
    if (!m->ptrs || !m->lens) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(m->tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "message %zd is %s, not bytes", i, Py_TYPE(item)->tp_name);
            return -1;
        }
        m->ptrs[i] = (const uint8_t *)PyBytes_AS_STRING(item);
        m->lens[i] = (size_t)PyBytes_GET_SIZE(item);
    }
    return 0;
}

/* Concatenate a sequence of 32-byte scalars into buf (PyMem); returns the count or -1. */
static Py_ssize_t scalars_load(PyObject *seq, uint8_t **buf) {
    PyObject *t = PySequence_Tuple(seq);
    if (!t) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    *buf = PyMem_Malloc(32 * (n ? n : 1));
    if (!*buf) {
        Py_DECREF(t);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) != 32) {
            PyErr_Format(PyExc_ValueError, "scalar %zd is not 32 bytes", i);
            Py_DECREF(t);
            PyMem_Free(*buf);
            *buf = NULL;
            return -1;
        }
        memcpy(*buf + 32 * i, PyBytes_AS_STRING(item), 32);
    }
    Py_DECREF(t);
    return n;
}

static void scrub_free(uint8_t *buf, size_t len) {
    if (!buf) return;
    volatile uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) p[i] = 0;
    PyMem_Free(buf);
}

/* --- the functions -------------------------------------------------------------------------- */

/* The shared body of hash_blind / blind: returns a list with one bytes object per scalar. */
static PyObject *blind_common(msgs_t *msgs, const bm_h2c_job *job, const uint8_t *points_in,
                              size_t n, PyObject *scalars_seq, const uint8_t *prefix,
                              size_t prefix_len, PyObject *raw_seq, int threads) {
    uint8_t *scalars = NULL;
    Py_ssize_t ns = scalars_load(scalars_seq, &scalars);
    if (ns < 0) return NULL;
    PyObject *result = NULL, *raw_t = NULL;
    uint8_t **raw_out = PyMem_Calloc(ns ? ns : 1, sizeof(uint8_t *));
    uint8_t **dig_out = PyMem_Calloc(ns ? ns : 1, sizeof(uint8_t *));
    PyObject **objs = PyMem_Calloc(ns ? ns : 1, sizeof(PyObject *));
    uint8_t **tmp = PyMem_Calloc(ns ? ns : 1, sizeof(uint8_t *));
    uint8_t *points = NULL;
    int any_digest = 0;
    if (!raw_out || !dig_out || !objs || !tmp) {
        PyErr_NoMemory();
        goto done;
    }
    if (raw_seq != Py_None) {
        raw_t = PySequence_Tuple(raw_seq);
        if (!raw_t) goto done;
        if (PyTuple_GET_SIZE(raw_t) != ns) {
            PyErr_SetString(PyExc_ValueError, "raw must have one flag per scalar");
            goto done;
        }
    }
    for (Py_ssize_t s = 0; s < ns; s++) {
        int keep = 1;
        if (raw_t) {
            keep = PyObject_IsTrue(PyTuple_GET_ITEM(raw_t, s));
            if (keep < 0) goto done;
        }
        objs[s] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * (keep ? 32 : 16)));
        if (!objs[s]) goto done;
        if (keep) {
            raw_out[s] = (uint8_t *)PyBytes_AS_STRING(objs[s]);
        } else {
            any_digest = 1;
            tmp[s] = PyMem_Malloc(32 * (n ? n : 1));
            if (!tmp[s]) {
                PyErr_NoMemory();
                goto done;
            }
            raw_out[s] = tmp[s];
            dig_out[s] = (uint8_t *)PyBytes_AS_STRING(objs[s]);
        }
    }
    if (job) {
        points = PyMem_Malloc(32 * (n ? n : 1));
        if (!points) {
            PyErr_NoMemory();
            goto done;
        }
    }
    batch_t b;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.h2c = job;
    b.points = job ? points : (uint8_t *)points_in;
    b.nscalars = (size_t)ns;
    b.scalars = scalars;
    b.raw_out = raw_out;
    b.digest_out = any_digest ? dig_out : NULL;
    b.prefix = prefix;
    b.prefix_len = prefix_len;
    Py_BEGIN_ALLOW_THREADS
    run_batch(&b, threads);
    Py_END_ALLOW_THREADS
    PyObject *list = PyList_New(ns);
    if (!list) goto done;
    for (Py_ssize_t s = 0; s < ns; s++) {
        PyList_SET_ITEM(list, s, objs[s]);
        objs[s] = NULL;
    }
    size_t zero = atomic_load(&b.first_zero);
    result = Py_BuildValue("(Nn)", list, ns && zero < n ? (Py_ssize_t)zero : (Py_ssize_t)-1);
done:
    (void)msgs;
    if (objs)
        for (Py_ssize_t s = 0; s < ns; s++) Py_XDECREF(objs[s]);
    if (tmp)
        for (Py_ssize_t s = 0; s < ns; s++) PyMem_Free(tmp[s]);
    PyMem_Free(objs);
    PyMem_Free(tmp);
    PyMem_Free(raw_out);
    PyMem_Free(dig_out);
    scrub_free(points, 32 * (n ? n : 1));  /* our own keys' curve points */
    Py_XDECREF(raw_t);
    scrub_free(scalars, 32 * (size_t)(ns > 0 ? ns : 0));
    return result;
}

PyDoc_STRVAR(hash_blind_doc,
"hash_blind(msgs, dst_prime, scalars, threads) -> (list[bytes], int)\n\n"
"For each scalar, the concatenated X25519(scalar, hash_to_curve(m)) of every message\n"
"(RFC 9380 curve25519_XMD:SHA-512_ELL2_RO_, cofactor cleared in full); and the index of the\n"
"first all-zero output (-1 if none).");

static PyObject *py_hash_blind(PyObject *self, PyObject *args) {
    PyObject *msgs_seq, *scalars_seq;
    Py_buffer dst;
    int threads;
    if (!PyArg_ParseTuple(args, "Oy*Oi", &msgs_seq, &dst, &scalars_seq, &threads)) return NULL;
    PyObject *result = NULL;
    msgs_t m;
    if (msgs_load(&m, msgs_seq) == 0) {
        bm_h2c_job job = {m.ptrs, m.lens, dst.buf, (size_t)dst.len};
        result = blind_common(&m, &job, NULL, m.n, scalars_seq, NULL, 0, Py_None, threads);
    }
    msgs_free(&m);
    PyBuffer_Release(&dst);
    return result;
}

PyDoc_STRVAR(hash_to_curve_doc,
"hash_to_curve(msgs, dst_prime, threads) -> bytes\n\n"
"The concatenated RFC 9380 hash_to_curve of every message; the identity encodes as 32 zero\n"
"bytes.");

static void *h2c_worker(void *arg) {
    batch_t *b = arg;
    for (;;) {
        size_t start = atomic_fetch_add(&b->next, CHUNK);
        if (start >= b->n) break;
        size_t stop = start + CHUNK < b->n ? start + CHUNK : b->n;
        h2c_impl(b->h2c, start, stop, b->points + 32 * start);
    }
    return NULL;
}

static PyObject *py_hash_to_curve(PyObject *self, PyObject *args) {
    PyObject *msgs_seq;
    Py_buffer dst;
    int threads;
    if (!PyArg_ParseTuple(args, "Oy*i", &msgs_seq, &dst, &threads)) return NULL;
    PyObject *out = NULL;
    msgs_t m;
    if (msgs_load(&m, msgs_seq) == 0) {
        bm_h2c_job job = {m.ptrs, m.lens, dst.buf, (size_t)dst.len};
        out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * m.n));
        if (out) {
            batch_t b;
            memset(&b, 0, sizeof b);
            b.n = m.n;
            b.h2c = &job;
            b.points = (uint8_t *)PyBytes_AS_STRING(out);
            Py_BEGIN_ALLOW_THREADS
            size_t chunks = (b.n + CHUNK - 1) / CHUNK;
            int t = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
            if ((size_t)t > chunks) t = chunks ? (int)chunks : 1;
            pthread_t tid[MAX_THREADS];
            int started = 0;
            atomic_init(&b.next, 0);
            for (int i = 1; i < t; i++) {
                if (pthread_create(&tid[started], NULL, h2c_worker, &b) != 0) break;
                started++;
            }
            h2c_worker(&b);
            for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
            Py_END_ALLOW_THREADS
        }
    }
    msgs_free(&m);
    PyBuffer_Release(&dst);
    return out;
}

PyDoc_STRVAR(blind_doc,
"blind(points, scalars, threads, prefix=b'', raw=None) -> (list[bytes], int)\n\n"
"For each scalar, X25519 of every 32-byte point, concatenated; where raw[i] is false, the\n"
"16-byte SHA-256(prefix || output) digests instead; and the index of the first point with\n"
"an all-zero output (-1 if none).");

static PyObject *py_blind(PyObject *self, PyObject *args) {
    Py_buffer pts, prefix = {0};
    PyObject *scalars_seq, *raw = Py_None;
    int threads;
    prefix.buf = NULL;
    if (!PyArg_ParseTuple(args, "y*Oi|y*O", &pts, &scalars_seq, &threads, &prefix, &raw))
        return NULL;
    PyObject *result = NULL;
    if (pts.len % 32) {
        PyErr_SetString(PyExc_ValueError, "points must be a multiple of 32 bytes");
    } else {
        result = blind_common(NULL, NULL, pts.buf, (size_t)pts.len / 32, scalars_seq,
                              prefix.buf ? prefix.buf : (const uint8_t *)"",
                              prefix.buf ? (size_t)prefix.len : 0, raw, threads);
    }
    PyBuffer_Release(&pts);
    if (prefix.buf) PyBuffer_Release(&prefix);
    return result;
}

PyDoc_STRVAR(digests_doc,
"digests(points, prefix) -> bytes\n\nConcatenated SHA-256(prefix || point)[:16].");

static PyObject *py_digests(PyObject *self, PyObject *args) {
    Py_buffer pts, prefix;
    if (!PyArg_ParseTuple(args, "y*y*", &pts, &prefix)) return NULL;
    PyObject *out = NULL;
    if (pts.len % 32) {
        PyErr_SetString(PyExc_ValueError, "points must be a multiple of 32 bytes");
    } else {
        size_t n = (size_t)pts.len / 32;
        out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(16 * n));
        if (out) {
            uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
            Py_BEGIN_ALLOW_THREADS
            digest_range(pts.buf, o, n, prefix.buf, (size_t)prefix.len);
            Py_END_ALLOW_THREADS
        }
    }
    PyBuffer_Release(&pts);
    PyBuffer_Release(&prefix);
    return out;
}

PyDoc_STRVAR(hash_to_field_doc,
"hash_to_field(msg, dst_prime) -> (bytes, bytes)\n\n"
"u0, u1 of RFC 9380 hash_to_field (count 2), canonical little-endian.");

static PyObject *py_hash_to_field(PyObject *self, PyObject *args) {
    Py_buffer msg, dst;
    if (!PyArg_ParseTuple(args, "y*y*", &msg, &dst)) return NULL;
    const uint8_t *ptr = msg.buf;
    size_t len = (size_t)msg.len;
    bm_h2c_job job = {&ptr, &len, dst.buf, (size_t)dst.len};
    uint8_t u0[32], u1[32];
    bm_hash_to_field(&job, 0, u0, u1);
    PyBuffer_Release(&msg);
    PyBuffer_Release(&dst);
    return Py_BuildValue("(y#y#)", u0, (Py_ssize_t)32, u1, (Py_ssize_t)32);
}

PyDoc_STRVAR(elligator2_map_doc,
"elligator2_map(u) -> bytes\n\n"
"The u-coordinate Elligator 2 maps the 32-byte u to (decodeUCoordinate, constant time).");

static PyObject *py_elligator2_map(PyObject *self, PyObject *arg) {
    Py_buffer u;
    if (PyObject_GetBuffer(arg, &u, PyBUF_SIMPLE) < 0) return NULL;
    if (u.len != 32) {
        PyBuffer_Release(&u);
        PyErr_SetString(PyExc_ValueError, "elligator2_map takes exactly 32 bytes");
        return NULL;
    }
    uint8_t in[32], out[32];
    memcpy(in, u.buf, 32);
    PyBuffer_Release(&u);
    bm_elligator2_x(in, out);
    volatile uint8_t *p = in;
    for (int i = 0; i < 32; i++) p[i] = 0;
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

PyDoc_STRVAR(cpu_path_doc,
"cpu_path() -> str\n\nThe field arithmetic in use: 'avx512ifma', 'avx2' or 'portable'.");

static PyObject *py_cpu_path(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(path_name);
}

static int have_avx2(void) {
#if defined(BM_HAVE_AVX2_PATH)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

#if defined(BM_HAVE_IFMA_PATH)
/* XCR0, read with the raw xgetbv opcode so this file needs no -mxsave. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* AVX-512F and IFMA on the CPU (cpuid leaf 7, and the compiler's view of it) and the OS
 * saving the state they use: XCR0 bits 1-2 (SSE, AVX) and 5-7 (opmask, upper halves of
 * zmm0-15, zmm16-31). Without the OS part an AVX-512 instruction would fault. */
static int have_ifma(void) {
#if defined(BM_HAVE_IFMA_PATH)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    if ((read_xcr0() & 0xe6) != 0xe6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 16)) || !(b & (1u << 21))) return 0; /* avx512f, avx512ifma */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
#else
    return 0;
#endif
}

static int select_path(const char *name) {
    if (strcmp(name, "portable") == 0) {
        x25519_impl = bm_x25519_batch_portable;
        h2c_impl = bm_h2c_batch_portable;
        path_name = "portable";
        return 0;
    }
#if defined(BM_HAVE_AVX2_PATH)
    if (strcmp(name, "avx2") == 0 && have_avx2()) {
        x25519_impl = bm_x25519_batch_avx2;
        h2c_impl = bm_h2c_batch_avx2;
        path_name = "avx2";
        return 0;
    }
#endif
#if defined(BM_HAVE_IFMA_PATH)
    if (strcmp(name, "avx512ifma") == 0 && have_ifma()) {
        x25519_impl = bm_x25519_batch_ifma;
        h2c_impl = bm_h2c_batch_ifma;
        path_name = "avx512ifma";
        return 0;
    }
#endif
    return -1;
}

PyDoc_STRVAR(set_cpu_path_doc,
"set_cpu_path(name)\n\nUse 'portable', 'avx2' or 'avx512ifma' (if this CPU has it) from now on;\n"
"for tests and benchmarks, which compare them. Not to be called while a batch runs.");

static PyObject *py_set_cpu_path(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    if (select_path(name) != 0) {
        PyErr_Format(PyExc_ValueError, "CPU path %R is not available here", arg);
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(cpu_paths_doc,
"cpu_paths() -> list[str]\n\nThe paths this CPU can run, slowest first: the last is the default.");

static PyObject *py_cpu_paths(PyObject *self, PyObject *noargs) {
    PyObject *paths = Py_BuildValue("[s]", "portable");
    if (!paths) return NULL;
    const char *more[2];
    int n = 0;
    if (have_avx2()) more[n++] = "avx2";
    if (have_ifma()) more[n++] = "avx512ifma";
    for (int i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(more[i]);
        if (!name || PyList_Append(paths, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(paths);
            return NULL;
        }
        Py_DECREF(name);
    }
    return paths;
}

static PyMethodDef methods[] = {
    {"hash_blind", py_hash_blind, METH_VARARGS, hash_blind_doc},
    {"hash_to_curve", py_hash_to_curve, METH_VARARGS, hash_to_curve_doc},
    {"blind", py_blind, METH_VARARGS, blind_doc},
    {"digests", py_digests, METH_VARARGS, digests_doc},
    {"hash_to_field", py_hash_to_field, METH_VARARGS, hash_to_field_doc},
    {"elligator2_map", py_elligator2_map, METH_O, elligator2_map_doc},
    {"cpu_path", py_cpu_path, METH_NOARGS, cpu_path_doc},
    {"cpu_paths", py_cpu_paths, METH_NOARGS, cpu_paths_doc},
    {"set_cpu_path", py_set_cpu_path, METH_O, set_cpu_path_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "blindmatch._native",
    "blindmatch's batch curve25519 code in C: X25519 and RFC 9380 hash-to-curve.", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    bm_curve_init();
#if defined(BM_HAVE_AVX2_PATH)
    bm_avx2_init();
    if (have_avx2()) select_path("avx2");
#endif
#if defined(BM_HAVE_IFMA_PATH)
    bm_ifma_init();
    if (have_ifma()) select_path("avx512ifma");
#endif
    return PyModule_Create(&module);
}
