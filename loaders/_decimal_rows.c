/* Rows of comma-separated decimal numbers -> float32, for the HIGGS text (loaders/higgs.py).
 *
 * A fast path only: it accepts the plain syntax  -?digits[.digits][(e|E)[+-]digits]  with at most 19 significant
 * digits, exactly `ncols` fields per line and '\n' (or "\r\n") line ends, and rounds each value to the nearest
 * float32. Anything else -- another syntax, an empty field or line, a wrong field count, a value whose rounding it
 * cannot decide exactly, a subnormal or out-of-range value -- makes it decline the whole block (return -1), and the
 * caller parses the block with polars, which is correctly rounded and names the bad line. So the two paths always
 * give the same float32 values.
 *
 * Rounding: the digits are read into a uint64 m (exact, 8 at a time) and v = m * 10^k is formed in double with at
 * most three roundings (m, the tabled 10^k, the product), so v is within 2 ulps of the decimal. The float32 nearest
 * to v is then the float32 nearest to the decimal unless v lies within MIDPOINT_MARGIN (16 ulps) of a midpoint
 * between two float32 values; such a value makes the block decline. Text printed from float32 data (as HIGGS is)
 * lies ~2^-25 from any midpoint, so it never declines.
 *
 * The GIL is released while parsing. Built as an optional extension: without a compiler modalbench still works,
 * on the polars path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POW10_MIN (-64)
#define POW10_MAX 38
static double pow10_table[POW10_MAX - POW10_MIN + 1]; /* 10^k correctly rounded (exact for 0 <= k <= 22) */
static const double MIDPOINT_MARGIN = 0x1p-49;        /* 16 double ulps, relative */

static void init_tables(void) {
    char text[16];
    for (int k = POW10_MIN; k <= POW10_MAX; k++) {
        snprintf(text, sizeof text, "1e%d", k);
        pow10_table[k - POW10_MIN] = strtod(text, NULL); /* C99: correctly rounded for these short decimals */
    }
}

/* 1: the 8 bytes at p are all ASCII digits. */
static inline int eight_digits(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return ((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
           0x3333333333333333ULL;
}

/* The value of the 8 ASCII digits at p (first digit most significant): pairs, then quads, then all eight. */
static inline uint64_t eight_digit_value(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    v = ((v & 0x0F0F0F0F0F0F0F0FULL) * (10 * 256 + 1)) >> 8;
    v = ((v & 0x00FF00FF00FF00FFULL) * (100 * 65536 + 1)) >> 16;
    return ((v & 0x0000FFFF0000FFFFULL) * (10000 * 4294967296ULL + 1)) >> 32;
}

/* Digits at *pp into *m (at most 19 digits in all, leading zeros included); returns the count, -1 past 19. */
static inline int read_digits(const char **pp, const char *end, uint64_t *m, int used) {
    const char *p = *pp;
    int n = 0;
    while (end - p >= 8 && used + n + 8 <= 19 && eight_digits(p)) {
        *m = *m * 100000000ULL + eight_digit_value(p);
        p += 8;
        n += 8;
    }
    while (p < end && (unsigned)(*p - '0') <= 9) {
        if (used + n + 1 > 19) return -1;
        *m = *m * 10 + (uint64_t)(*p - '0');
        p++;
        n++;
    }
    *pp = p;
    return n;
}

/* 1: `v` (positive) is too close to a midpoint between `f` = (float)v and a float32 neighbour to round it with
 * certainty. `f` is normal, so its ulp is 2^(exponent - 23); v - f is exact in double (Sterbenz). */
static inline int near_midpoint(double v, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    int exponent = (int)((bits >> 23) & 0xff) - 127;
    uint64_t half_ulp_bits = (uint64_t)(exponent - 24 + 1023) << 52; /* 2^(exponent - 24) */
    double half_ulp;
    memcpy(&half_ulp, &half_ulp_bits, sizeof half_ulp);
    return fabs(fabs(v - (double)f) - half_ulp) <= v * MIDPOINT_MARGIN;
}

/* The float32 nearest to (-1)^negative * m * 10^k into *out: 0, or -1 to decline. */
static inline int round_to_float32(uint64_t m, int k, int negative, float *out) {
    if (m == 0) {
        *out = negative ? -0.0f : 0.0f;
        return 0;
    }
    if (k < POW10_MIN || k > POW10_MAX) return -1;
    /* three roundings (m, 10^k, the product), each <= 1/2 ulp: the error is far inside MIDPOINT_MARGIN */
    double v = (double)m * pow10_table[k - POW10_MIN];
    if (!(v >= FLT_MIN && v <= FLT_MAX)) return -1; /* subnormal or overflow */
    float f = (float)v;
    if (near_midpoint(v, f)) return -1;
    *out = negative ? -f : f;
    return 0;
}

/* 1: p[0] and p[1] are ASCII digits. */
static inline int two_digits(const char *p) { return (unsigned)(p[0] - '0') <= 9 && (unsigned)(p[1] - '0') <= 9; }

/* The HIGGS layout  D.DDDDDDDDDDDDDDDDDDe±DD  (the sign already consumed) at p, ending at p + 24: 0 with *m and *k
 * set, -1 when the field is laid out otherwise (the general parser then reads it). */
static inline int read_fixed_layout(const char *p, const char *end, uint64_t *m, int *k) {
    if (end - p < 25 || p[1] != '.' || (p[20] != 'e' && p[20] != 'E') || (p[21] != '+' && p[21] != '-')) return -1;
    if ((unsigned)(p[0] - '0') > 9 || !eight_digits(p + 2) || !eight_digits(p + 10) || !two_digits(p + 18) ||
        !two_digits(p + 22) || (p[24] != ',' && p[24] != '\n' && p[24] != '\r'))
        return -1;
    *m = (uint64_t)(p[0] - '0') * 1000000000000000000ULL + eight_digit_value(p + 2) * 10000000000ULL +
         eight_digit_value(p + 10) * 100 + (uint64_t)((p[18] - '0') * 10 + (p[19] - '0'));
    int e = (p[22] - '0') * 10 + (p[23] - '0');
    *k = (p[21] == '-' ? -e : e) - 18;
    return 0;
}

/* Parse one field starting at *pp, ending at ',' or '\n'/'\r'; 0 on success, -1 to decline. */
static inline int parse_field(const char **pp, const char *end, float *out) {
    const char *p = *pp;
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    uint64_t fixed_m;
    int fixed_k;
    if (read_fixed_layout(p, end, &fixed_m, &fixed_k) == 0) {
        *pp = p + 24;
        return round_to_float32(fixed_m, fixed_k, negative, out);
    }
    uint64_t m = 0;
    int int_digits = read_digits(&p, end, &m, 0);
    if (int_digits < 0) return -1;
    int frac_digits = 0;
    if (p < end && *p == '.') {
        p++;
        frac_digits = read_digits(&p, end, &m, int_digits);
        if (frac_digits < 0) return -1;
    }
    if (int_digits + frac_digits == 0) return -1;
    int exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int exp_negative = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            exp_negative = *p == '-';
            p++;
        }
        int exp_digits = 0;
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (++exp_digits > 4) return -1;
            exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (!exp_digits) return -1;
        if (exp_negative) exp10 = -exp10;
    }
    if (p >= end || (*p != ',' && *p != '\n' && *p != '\r')) return -1;
    *pp = p;
    return round_to_float32(m, exp10 - frac_digits, negative, out);
}

/* Rows parsed into out (row-major, ncols per row, capacity rows), or -1 to decline. */
static Py_ssize_t parse_rows(const char *text, Py_ssize_t len, float *out, Py_ssize_t capacity, int ncols) {
    const char *p = text, *end = text + len;
    Py_ssize_t row = 0;
    while (p < end) {
        if (row >= capacity) return -1;
        float *dst = out + row * ncols;
        for (int j = 0; j < ncols; j++) {
            if (parse_field(&p, end, dst + j) < 0) return -1;
            if (j + 1 < ncols) {
                if (*p != ',') return -1;
                p++;
            }
        }
        if (p < end && *p == '\r') p++;
        if (p < end) {
            if (*p != '\n') return -1;
            p++;
        }
        row++;
    }
    return row;
}

static PyObject *py_parse_into(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer text, out;
    int ncols;
    if (!PyArg_ParseTuple(args, "y*w*i:parse_into", &text, &out, &ncols)) return NULL;
    if (ncols <= 0 || out.len % ((Py_ssize_t)sizeof(float) * ncols) != 0 ||
        (out.format && strcmp(out.format, "f") != 0) || out.itemsize != (Py_ssize_t)sizeof(float)) {
        PyBuffer_Release(&text);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "out must be a contiguous float32 buffer of whole rows of ncols values");
        return NULL;
    }
    Py_ssize_t capacity = out.len / ((Py_ssize_t)sizeof(float) * ncols), rows;
    Py_BEGIN_ALLOW_THREADS;
    rows = parse_rows(text.buf, text.len, out.buf, capacity, ncols);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&text);
    PyBuffer_Release(&out);
    return PyLong_FromSsize_t(rows);
}

static PyMethodDef methods[] = {
    {"parse_into", py_parse_into, METH_VARARGS,
     "parse_into(text, out, ncols) -> rows written into the float32 buffer out, or -1: the block is not in the "
     "plain syntax (or a value's float32 rounding is not certain) and must be parsed another way."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_decimal_rows",
    "Rows of comma-separated decimal numbers -> float32 (a fast path for loaders.higgs).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__decimal_rows(void) {
    init_tables();
    return PyModule_Create(&module);
}
