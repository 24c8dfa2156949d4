/* The AVX2 path: four field elements at once, one per 64-bit lane of a 256-bit vector, each in
 * ten limbs of alternately 26 and 25 bits (radix 2^25.5), so a limb product fits the 32x32->64
 * bit multiply (vpmuludq) and a column of ten products fits 64 bits. Four points run through
 * one Montgomery ladder (the protocol blinds many points with one scalar, so the ladder's
 * swap bits are the same in every lane) and four messages through one Elligator 2 map.
 *
 * The whole file is compiled for AVX2 (the pragma below) and only called after the module
 * found AVX2 on the CPU; the rest of the extension stays baseline x86-64.
 *
 * Limb bounds: carried values have limbs below 2^26 (even) / 2^25 (odd) plus a small excess;
 * fe4_sub adds 2p first, giving limbs below 2^27.6. Products of such inputs sum to < 2^63 per
 * column. As in the portable code, a sum must be carried before it is added to again. */
#pragma GCC target("avx2")

#include <immintrin.h>
#include <string.h>

#include "bm_internal.h"

typedef struct {
    __m256i v[10];
} fe4;

#define ADD(a, b) _mm256_add_epi64((a), (b))
#define MUL(a, b) _mm256_mul_epu32((a), (b))

static inline __m256i mul19(__m256i x) {
    return ADD(ADD(_mm256_slli_epi64(x, 4), _mm256_slli_epi64(x, 1)), x);
}

static inline void fe4_carry_cols(fe4 *h, __m256i r[10]) {
    const __m256i m26 = _mm256_set1_epi64x(0x3ffffff), m25 = _mm256_set1_epi64x(0x1ffffff);
    __m256i c;
#define CARRY(i, bits, mask)                      \
    c = _mm256_srli_epi64(r[i], bits);            \
    r[(i) + 1] = ADD(r[(i) + 1], c);              \
    r[i] = _mm256_and_si256(r[i], mask);
    CARRY(0, 26, m26) CARRY(4, 26, m26)
    CARRY(1, 25, m25) CARRY(5, 25, m25)
    CARRY(2, 26, m26) CARRY(6, 26, m26)
    CARRY(3, 25, m25) CARRY(7, 25, m25)
    CARRY(4, 26, m26) CARRY(8, 26, m26)
    c = _mm256_srli_epi64(r[9], 25);
    r[9] = _mm256_and_si256(r[9], m25);
    r[0] = ADD(r[0], mul19(c));
    CARRY(0, 26, m26)
#undef CARRY
    for (int i = 0; i < 10; i++) h->v[i] = r[i];
}

static inline void fe4_carry(fe4 *h) {
    __m256i r[10];
    for (int i = 0; i < 10; i++) r[i] = h->v[i];
    fe4_carry_cols(h, r);
}

static inline void fe4_mul(fe4 *h, const fe4 *f, const fe4 *g) {
    __m256i g19[10], f2[10], r[10];
#pragma GCC unroll 10
    for (int i = 0; i < 10; i++) {
        g19[i] = mul19(g->v[i]);
        f2[i] = (i & 1) ? ADD(f->v[i], f->v[i]) : f->v[i];
        r[i] = _mm256_setzero_si256();
    }
#pragma GCC unroll 10
    for (int i = 0; i < 10; i++) {
#pragma GCC unroll 10
        for (int j = 0; j < 10; j++) {
            /* limb i times limb j lands at weight 2^(25.5 (i + j)), rounded up per limb: an
             * extra factor 2 when both are odd; past limb 9 it wraps with 2^255 = 19. */
            __m256i a = ((i & 1) && (j & 1)) ? f2[i] : f->v[i];
            __m256i b = (i + j >= 10) ? g19[j] : g->v[j];
            r[(i + j) % 10] = ADD(r[(i + j) % 10], MUL(a, b));
        }
    }
    fe4_carry_cols(h, r);
}

static inline void fe4_sq(fe4 *h, const fe4 *f) {
    __m256i f1[10], f2[10], f4[10], f19[10], r[10];
#pragma GCC unroll 10
    for (int i = 0; i < 10; i++) {
        f1[i] = f->v[i];
        f2[i] = ADD(f->v[i], f->v[i]);
        f4[i] = ADD(f2[i], f2[i]);
        f19[i] = mul19(f->v[i]);
        r[i] = _mm256_setzero_si256();
    }
#pragma GCC unroll 10
    for (int i = 0; i < 10; i++) {
#pragma GCC unroll 10
        for (int j = i; j < 10; j++) {
            int scale = (i == j ? 1 : 2) * (((i & 1) && (j & 1)) ? 2 : 1);
            __m256i a = scale == 1 ? f1[i] : scale == 2 ? f2[i] : f4[i];
            __m256i b = (i + j >= 10) ? f19[j] : f1[j];
            r[(i + j) % 10] = ADD(r[(i + j) % 10], MUL(a, b));
        }
    }
    fe4_carry_cols(h, r);
}

static inline void fe4_sqn(fe4 *h, const fe4 *f, int n) {
    fe4_sq(h, f);
    for (int i = 1; i < n; i++) fe4_sq(h, h);
}

static inline void fe4_add(fe4 *h, const fe4 *f, const fe4 *g) {
    for (int i = 0; i < 10; i++) h->v[i] = ADD(f->v[i], g->v[i]);
}

/* f - g + 2p (g carried). */
static inline void fe4_sub(fe4 *h, const fe4 *f, const fe4 *g) {
    const __m256i b0 = _mm256_set1_epi64x(0x7ffffda), be = _mm256_set1_epi64x(0x7fffffe),
                  bo = _mm256_set1_epi64x(0x3fffffe);
    for (int i = 0; i < 10; i++) {
        __m256i bias = i == 0 ? b0 : (i & 1) ? bo : be;
        h->v[i] = _mm256_sub_epi64(ADD(f->v[i], bias), g->v[i]);
    }
}

static inline void fe4_mul_small(fe4 *h, const fe4 *f, uint32_t k) {
    const __m256i kk = _mm256_set1_epi64x(k);
    __m256i r[10];
    for (int i = 0; i < 10; i++) r[i] = MUL(f->v[i], kk);
    fe4_carry_cols(h, r);
}

/* Swap f and g in every lane where mask is all ones. */
static inline void fe4_cswap(fe4 *f, fe4 *g, __m256i mask) {
    for (int i = 0; i < 10; i++) {
        __m256i t = _mm256_and_si256(mask, _mm256_xor_si256(f->v[i], g->v[i]));
        f->v[i] = _mm256_xor_si256(f->v[i], t);
        g->v[i] = _mm256_xor_si256(g->v[i], t);
    }
}

/* h = g in every lane where mask is all ones. */
static inline void fe4_cmov(fe4 *h, const fe4 *g, __m256i mask) {
    for (int i = 0; i < 10; i++)
        h->v[i] = _mm256_xor_si256(h->v[i],
                                   _mm256_and_si256(mask, _mm256_xor_si256(h->v[i], g->v[i])));
}

/* --- lanes <-> radix-2^51 scalars --------------------------------------------------------- */

static inline void fe4_pack(fe4 *h, const fe f[4]) {
    for (int k = 0; k < 5; k++) {
        h->v[2 * k] = _mm256_set_epi64x(
            (long long)(f[3].v[k] & 0x3ffffff), (long long)(f[2].v[k] & 0x3ffffff),
            (long long)(f[1].v[k] & 0x3ffffff), (long long)(f[0].v[k] & 0x3ffffff));
        h->v[2 * k + 1] = _mm256_set_epi64x((long long)(f[3].v[k] >> 26),
                                            (long long)(f[2].v[k] >> 26),
                                            (long long)(f[1].v[k] >> 26),
                                            (long long)(f[0].v[k] >> 26));
    }
}

static inline void fe4_broadcast(fe4 *h, const fe *f) {
    fe four[4] = {*f, *f, *f, *f};
    fe4_pack(h, four);
}

static inline void fe4_unpack(fe out[4], const fe4 *h) {
    uint64_t lanes[10][4];
    for (int i = 0; i < 10; i++) _mm256_storeu_si256((__m256i *)lanes[i], h->v[i]);
    for (int l = 0; l < 4; l++)
        for (int k = 0; k < 5; k++) out[l].v[k] = lanes[2 * k][l] + (lanes[2 * k + 1][l] << 26);
}

/* All ones in the lanes where bits[l] is 1. */
static inline __m256i lane_mask(const uint64_t bits[4]) {
    return _mm256_set_epi64x(-(long long)bits[3], -(long long)bits[2], -(long long)bits[1],
                             -(long long)bits[0]);
}

static inline __m256i fe4_iszero_mask(const fe4 *f) {
    fe lanes[4];
    uint64_t bits[4];
    fe4_unpack(lanes, f);
    for (int l = 0; l < 4; l++) bits[l] = fe_iszero(&lanes[l]);
    return lane_mask(bits);
}

static inline __m256i fe4_equal_mask(const fe4 *f, const fe4 *g) {
    fe4 d;
    fe4_sub(&d, f, g);
    return fe4_iszero_mask(&d);
}

static inline __m256i fe4_sgn0_mask(const fe4 *f) {
    fe lanes[4];
    uint64_t bits[4];
    fe4_unpack(lanes, f);
    for (int l = 0; l < 4; l++) bits[l] = fe_sgn0(&lanes[l]);
    return lane_mask(bits);
}

static inline void fe4_neg(fe4 *h, const fe4 *f) {
    fe4 z;
    for (int i = 0; i < 10; i++) z.v[i] = _mm256_setzero_si256();
    fe4_sub(h, &z, f);
    fe4_carry(h);
}

/* z^(2^250 - 1) and z^11 (the shared start of the inversion and square-root chains). */
static void fe4_pow_p58(fe4 *out, const fe4 *z) {
    fe4 t0, t1, t2, z11;
    fe4_sq(&t0, z);
    fe4_sqn(&t1, &t0, 2);
    fe4_mul(&t1, &t1, z);        /* z^9 */
    fe4_mul(&z11, &t0, &t1);     /* z^11 */
    fe4_sq(&t0, &z11);
    fe4_mul(&t0, &t0, &t1);      /* 2^5 - 1 */
    fe4_sqn(&t1, &t0, 5);
    fe4_mul(&t0, &t1, &t0);      /* 2^10 - 1 */
    fe4_sqn(&t1, &t0, 10);
    fe4_mul(&t1, &t1, &t0);      /* 2^20 - 1 */
    fe4_sqn(&t2, &t1, 20);
    fe4_mul(&t1, &t2, &t1);      /* 2^40 - 1 */
    fe4_sqn(&t1, &t1, 10);
    fe4_mul(&t0, &t1, &t0);      /* 2^50 - 1 */
    fe4_sqn(&t1, &t0, 50);
    fe4_mul(&t1, &t1, &t0);      /* 2^100 - 1 */
    fe4_sqn(&t2, &t1, 100);
    fe4_mul(&t1, &t2, &t1);      /* 2^200 - 1 */
    fe4_sqn(&t1, &t1, 50);
    fe4_mul(&t1, &t1, &t0);      /* 2^250 - 1 */
    fe4_sqn(&t1, &t1, 2);        /* 2^252 - 4 */
    fe4_mul(out, &t1, z);        /* 2^252 - 3 = (p - 5) / 8 */
}

/* --- X25519, four points per ladder -------------------------------------------------------- */

static void ladder4(fe4 *x2_out, fe4 *z2_out, const uint8_t k[32], const fe4 *u) {
    fe4 x1 = *u, x2, z2, x3 = *u, z3;
    for (int i = 0; i < 10; i++) {
        x2.v[i] = z3.v[i] = _mm256_set1_epi64x(i == 0);
        z2.v[i] = _mm256_setzero_si256();
    }
    uint64_t swap = 0;
    for (int t = 254; t >= 0; t--) {
        uint64_t kt = (k[t >> 3] >> (t & 7)) & 1;
        swap ^= kt;
        __m256i mask = _mm256_set1_epi64x(-(long long)swap);
        fe4_cswap(&x2, &x3, mask);
        fe4_cswap(&z2, &z3, mask);
        swap = kt;
        fe4 a, aa, b, bb, e, c, d, da, cb, t0;
        fe4_add(&a, &x2, &z2);
        fe4_sub(&b, &x2, &z2);
        fe4_add(&c, &x3, &z3);
        fe4_sub(&d, &x3, &z3);
        fe4_sq(&aa, &a);
        fe4_sq(&bb, &b);
        fe4_mul(&da, &d, &a);
        fe4_mul(&cb, &c, &b);
        fe4_sub(&e, &aa, &bb);
        fe4_add(&t0, &da, &cb);
        fe4_sq(&x3, &t0);
        fe4_sub(&t0, &da, &cb);
        fe4_sq(&t0, &t0);
        fe4_mul(&z3, &x1, &t0);
        fe4_mul(&x2, &aa, &bb);
        fe4_mul_small(&t0, &e, 121665);
        fe4_add(&t0, &t0, &aa);
        fe4_mul(&z2, &e, &t0);
    }
    __m256i mask = _mm256_set1_epi64x(-(long long)swap);
    fe4_cswap(&x2, &x3, mask);
    fe4_cswap(&z2, &z3, mask);
    *x2_out = x2;
    *z2_out = z2;
}

void bm_x25519_batch_avx2(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                          size_t n) {
    uint8_t k[32];
    bm_clamp(k, scalar);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = 0; base < n; base += BM_BLOCK) {
        size_t m = n - base < BM_BLOCK ? n - base : BM_BLOCK;
        for (size_t i = 0; i < m; i += 4) {
            fe u[4];
            for (size_t l = 0; l < 4; l++) {
                /* a short last group repeats its first point in the spare lanes */
                size_t src = i + l < m ? base + i + l : base + i;
                fe_frombytes(&u[l], points + 32 * src);
            }
            fe4 u4, x4, z4;
            fe4_pack(&u4, u);
            ladder4(&x4, &z4, k, &u4);
            fe xl[4], zl[4];
            fe4_unpack(xl, &x4);
            fe4_unpack(zl, &z4);
            for (size_t l = 0; l < 4 && i + l < m; l++) {
                xs[i + l] = xl[l];
                zs[i + l] = zl[l];
                fe_carry(&xs[i + l]);
                fe_carry(&zs[i + l]);
            }
        }
        bm_affine_bytes(xs, zs, scratch, m, out + 32 * base);
    }
    memset(k, 0, sizeof k);
}

/* --- hash to curve, four messages per Elligator 2 map ------------------------------------ */

static fe4 C_SQRT_M1, C_C2, C_NEG_A, C_ONE;

void bm_avx2_init(void) {
    fe one;
    fe_1(&one);
    fe4_broadcast(&C_SQRT_M1, &bm_K.sqrt_m1);
    fe4_broadcast(&C_C2, &bm_K.c2);
    fe4_broadcast(&C_NEG_A, &bm_K.neg_a);
    fe4_broadcast(&C_ONE, &one);
}

/* RFC 9380 G.2.1, as elligator2 in bm_curve.c, lane by lane. */
static void elligator2_4(fe4 *xn, fe4 *xd, fe4 *y, const fe4 *u) {
    fe4 tv1, tv2, tv3, gxd, gx1, gx2, y11, y12, y21, y22, y1, y2, x1n, x2n, t;
    fe4_sq(&tv1, u);
    fe4_add(&tv1, &tv1, &tv1);
    fe4_carry(&tv1);
    fe4_add(xd, &tv1, &C_ONE);
    fe4_carry(xd);
    x1n = C_NEG_A;
    fe4_sq(&tv2, xd);
    fe4_mul(&gxd, &tv2, xd);
    fe4_mul_small(&gx1, &tv1, 486662);
    fe4_mul(&gx1, &gx1, &x1n);
    fe4_add(&gx1, &gx1, &tv2);
    fe4_mul(&gx1, &gx1, &x1n);
    fe4_sq(&tv3, &gxd);
    fe4_sq(&tv2, &tv3);
    fe4_mul(&tv3, &tv3, &gxd);
    fe4_mul(&tv3, &tv3, &gx1);
    fe4_mul(&tv2, &tv2, &tv3);
    fe4_pow_p58(&y11, &tv2);
    fe4_mul(&y11, &y11, &tv3);
    fe4_mul(&y12, &y11, &C_SQRT_M1);
    fe4_sq(&tv2, &y11);
    fe4_mul(&tv2, &tv2, &gxd);
    __m256i e1 = fe4_equal_mask(&tv2, &gx1);
    y1 = y12;
    fe4_cmov(&y1, &y11, e1);
    fe4_mul(&x2n, &x1n, &tv1);
    fe4_mul(&y21, &y11, u);
    fe4_mul(&y21, &y21, &C_C2);
    fe4_mul(&y22, &y21, &C_SQRT_M1);
    fe4_mul(&gx2, &gx1, &tv1);
    fe4_sq(&tv2, &y21);
    fe4_mul(&tv2, &tv2, &gxd);
    __m256i e2 = fe4_equal_mask(&tv2, &gx2);
    y2 = y22;
    fe4_cmov(&y2, &y21, e2);
    fe4_sq(&tv2, &y1);
    fe4_mul(&tv2, &tv2, &gxd);
    __m256i e3 = fe4_equal_mask(&tv2, &gx1);
    *xn = x2n;
    fe4_cmov(xn, &x1n, e3);
    *y = y2;
    fe4_cmov(y, &y1, e3);
    __m256i e4 = fe4_sgn0_mask(y);
    fe4_neg(&t, y);
    fe4_cmov(y, &t, _mm256_xor_si256(e3, e4));
}

static inline void fe4_x_double(fe4 *x, fe4 *z) {
    fe4 a, b, aa, bb, e, t;
    fe4_add(&a, x, z);
    fe4_sub(&b, x, z);
    fe4_sq(&aa, &a);
    fe4_sq(&bb, &b);
    fe4_mul(x, &aa, &bb);
    fe4_sub(&e, &aa, &bb);
    fe4_mul_small(&t, &e, 121665);
    fe4_add(&t, &t, &aa);
    fe4_mul(z, &e, &t);
}

/* h2c_projective of bm_curve.c on four messages. */
static void h2c_projective4(fe4 *X, fe4 *Z, const fe4 *u0, const fe4 *u1) {
    fe4 xn0, xd0, y0, xn1, xd1, y1;
    elligator2_4(&xn0, &xd0, &y0, u0);
    elligator2_4(&xn1, &xd1, &y1, u1);
    fe4 a0, a1, d, e, n, s, d2, e3, t, x, z;
    fe4_mul(&a0, &xn0, &xd1);
    fe4_mul(&a1, &xn1, &xd0);
    fe4_sub(&d, &a1, &a0);
    fe4_add(&s, &a0, &a1);
    fe4_mul(&e, &xd0, &xd1);
    fe4_sub(&n, &y1, &y0);
    fe4_sq(&d2, &d);
    fe4_sq(&e3, &e);
    fe4_mul(&e3, &e3, &e);
    fe4_sq(&t, &n);
    fe4_mul(&x, &t, &e3);
    fe4_mul_small(&t, &e, 486662);
    fe4_carry(&s);
    fe4_add(&t, &t, &s);
    fe4_mul(&t, &t, &d2);
    fe4_sub(&x, &x, &t);
    fe4_carry(&x);
    fe4_mul(&z, &d2, &e);
    fe4 dx = xn0, dz = xd0;
    fe4_x_double(&dx, &dz);
    __m256i same = _mm256_and_si256(fe4_iszero_mask(&d), fe4_iszero_mask(&n));
    fe4_cmov(&x, &dx, same);
    fe4_cmov(&z, &dz, same);
    for (int i = 0; i < 3; i++) fe4_x_double(&x, &z);  /* clear_cofactor: h_eff = 8 */
    *X = x;
    *Z = z;
}

void bm_h2c_batch_avx2(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out) {
    bm_sha512 zpad;
    bm_zpad_state(&zpad);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = start; base < stop; base += BM_BLOCK) {
        size_t m = stop - base < BM_BLOCK ? stop - base : BM_BLOCK;
        for (size_t i = 0; i < m; i += 4) {
            fe u0[4], u1[4];
            for (size_t l = 0; l < 4; l++) {
                if (i + l < m) {
                    bm_field_pair(job, &zpad, base + i + l, &u0[l], &u1[l]);
                } else {  /* spare lanes of a short last group: any valid input */
                    u0[l] = u0[0];
                    u1[l] = u1[0];
                }
            }
            fe4 U0, U1, X, Z;
            fe4_pack(&U0, u0);
            fe4_pack(&U1, u1);
            h2c_projective4(&X, &Z, &U0, &U1);
            fe xl[4], zl[4];
            fe4_unpack(xl, &X);
            fe4_unpack(zl, &Z);
            for (size_t l = 0; l < 4 && i + l < m; l++) {
                xs[i + l] = xl[l];
                zs[i + l] = zl[l];
                fe_carry(&xs[i + l]);
                fe_carry(&zs[i + l]);
            }
        }
        bm_affine_bytes(xs, zs, scratch, m, out + 32 * (base - start));
    }
}
