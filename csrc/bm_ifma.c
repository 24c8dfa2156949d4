/* The AVX-512 IFMA path: eight field elements at once, one per 64-bit lane of a 512-bit
 * vector, each in five limbs of 51 bits (radix 2^51, as the portable fe, so packing is a
 * transpose). Limb products come from vpmadd52luq / vpmadd52huq, which multiply the low 52
 * bits of two lanes and add the low or high 52 bits of the 104-bit product to an accumulator.
 * Eight points run through one Montgomery ladder (one scalar, so the swap bits are the same in
 * every lane) and eight messages through one Elligator 2 map, their expand_message_xmd
 * SHA-512s eight at a time too (AVX-512F rotates and ternary logic; a lane whose message has
 * fewer blocks keeps its state by a mask made from the public lengths).
 *
 * The whole file is compiled for AVX-512F + IFMA (the pragma below) and only called after the
 * module found both on the CPU and the OS saving ZMM state; the rest of the extension stays
 * baseline x86-64. setup.py leaves the file out when the compiler cannot build it.
 *
 * Limb bounds (the one invariant of this file): every fe8 value that any function returns or
 * takes has limbs below T = 2^51 + 2^14 ("tight"), so below 2^52 as IFMA requires of every
 * multiplicand; nothing is ever fed to a multiply uncarried.
 *  - fe8_mul / fe8_sq: with f_i, g_j < 2^52, lo52 and hi52 of each product are below 2^52.
 *    Column k collects at most 5 lo terms and 5 hi terms (the latter at weight 2^(51k+52) =
 *    2 * 2^(51(k+1)), so counted twice in the next column): c[k] < 5*2^52 + 2*5*2^52 < 2^56
 *    (squaring: 2 * (2 cross) + 1 diagonal = 5 terms, same bound). Folding 2^255 = 19:
 *    r[k] = c[k] + 19 c[k+5] < 20 * 2^56 < 2^60.4.
 *  - fe8_carry (one parallel round: limb i keeps its low 51 bits and gains limb i-1's bits
 *    above 51, limb 0 gains 19 times limb 4's): inputs below 2^60.4 give carries below
 *    2^9.4, so outputs below 2^51 + 19 * 2^9.4 < 2^51 + 2^13.7 < T.
 *  - fe8_add: two tight values sum below 2^52.1, carried: below 2^51 + 19*2 < T.
 *  - fe8_sub: f + 2p - g, with 2p's limbs (2^52 - 38, 2^52 - 2, ...) above any tight g, so no
 *    lane goes negative; the sum is below 2^53.1, carried: below 2^51 + 19*4 < T.
 *  - fe8_mul_small_add (k < 2^20): lo and hi of f_i k, hi < 2^20, plus a tight g: columns
 *    below 2^52 + 2^21 + T < 2^53.1, carried.
 *  - inputs: fe_frombytes gives limbs below 2^51, the portable fe_carry below 2^51 + 19*8.
 * Constant time: no branch or memory index depends on a lane's value; the scalar's bits only
 * make masks (as in ladder4 of bm_avx2.c). */
#if defined(BM_IFMA_EMULATE)
/* tools/ct_check.sh: portable stand-ins for the intrinsics, so memcheck can run this file */
#include "ifma_emul.h"
#else
#pragma GCC target("avx512f,avx512ifma")

#include <immintrin.h>
#endif
#include <string.h>

#include "bm_consts.h"
#include "bm_internal.h"

_Static_assert(BM_BLOCK % 8 == 0, "the IFMA path fills blocks with groups of 8 points");

typedef struct {
    __m512i v[5];
} fe8;

#define ADD(a, b) _mm512_add_epi64((a), (b))
#define MLO(acc, a, b) _mm512_madd52lo_epu64((acc), (a), (b))
#define MHI(acc, a, b) _mm512_madd52hi_epu64((acc), (a), (b))

static inline __m512i mul19(__m512i x) {
    return ADD(ADD(_mm512_slli_epi64(x, 4), _mm512_slli_epi64(x, 1)), x);
}

/* One parallel carry round over r[0..4] (see the bounds above). */
static inline void fe8_carry_cols(fe8 *h, const __m512i r[5]) {
    const __m512i m51 = _mm512_set1_epi64(0x7ffffffffffffLL);
    __m512i c0 = _mm512_srli_epi64(r[0], 51), c1 = _mm512_srli_epi64(r[1], 51),
            c2 = _mm512_srli_epi64(r[2], 51), c3 = _mm512_srli_epi64(r[3], 51),
            c4 = _mm512_srli_epi64(r[4], 51);
    h->v[0] = ADD(_mm512_and_si512(r[0], m51), mul19(c4));
    h->v[1] = ADD(_mm512_and_si512(r[1], m51), c0);
    h->v[2] = ADD(_mm512_and_si512(r[2], m51), c1);
    h->v[3] = ADD(_mm512_and_si512(r[3], m51), c2);
    h->v[4] = ADD(_mm512_and_si512(r[4], m51), c3);
}

/* Columns lo[0..8] (weight 2^(51k)) and hi[0..8] (weight 2^(51k+52)) to a tight fe8. */
static inline void fe8_reduce_cols(fe8 *h, const __m512i lo[9], const __m512i hi[9]) {
    __m512i c[10], r[5];
    c[0] = lo[0];
#pragma GCC unroll 10
    for (int k = 1; k < 9; k++) c[k] = ADD(lo[k], ADD(hi[k - 1], hi[k - 1]));
    c[9] = ADD(hi[8], hi[8]);
#pragma GCC unroll 5
    for (int k = 0; k < 5; k++) r[k] = ADD(c[k], mul19(c[k + 5]));
    fe8_carry_cols(h, r);
}

static inline void fe8_mul(fe8 *h, const fe8 *f, const fe8 *g) {
    __m512i lo[9], hi[9];
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) lo[k] = hi[k] = _mm512_setzero_si512();
#pragma GCC unroll 5
    for (int i = 0; i < 5; i++) {
#pragma GCC unroll 5
        for (int j = 0; j < 5; j++) {
            lo[i + j] = MLO(lo[i + j], f->v[i], g->v[j]);
            hi[i + j] = MHI(hi[i + j], f->v[i], g->v[j]);
        }
    }
    fe8_reduce_cols(h, lo, hi);
}

/* Squaring: the 10 cross products once, their columns doubled, then the 5 diagonal ones. */
static inline void fe8_sq(fe8 *h, const fe8 *f) {
    __m512i lo[9], hi[9];
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) lo[k] = hi[k] = _mm512_setzero_si512();
#pragma GCC unroll 5
    for (int i = 0; i < 5; i++) {
#pragma GCC unroll 5
        for (int j = i + 1; j < 5; j++) {
            lo[i + j] = MLO(lo[i + j], f->v[i], f->v[j]);
            hi[i + j] = MHI(hi[i + j], f->v[i], f->v[j]);
        }
    }
#pragma GCC unroll 9
    for (int k = 1; k < 8; k++) {
        lo[k] = ADD(lo[k], lo[k]);
        hi[k] = ADD(hi[k], hi[k]);
    }
#pragma GCC unroll 5
    for (int i = 0; i < 5; i++) {
        lo[2 * i] = MLO(lo[2 * i], f->v[i], f->v[i]);
        hi[2 * i] = MHI(hi[2 * i], f->v[i], f->v[i]);
    }
    fe8_reduce_cols(h, lo, hi);
}

static inline void fe8_sqn(fe8 *h, const fe8 *f, int n) {
    fe8_sq(h, f);
    for (int i = 1; i < n; i++) fe8_sq(h, h);
}

static inline void fe8_add(fe8 *h, const fe8 *f, const fe8 *g) {
    __m512i r[5];
    for (int i = 0; i < 5; i++) r[i] = ADD(f->v[i], g->v[i]);
    fe8_carry_cols(h, r);
}

/* f - g + 2p, carried. */
static inline void fe8_sub(fe8 *h, const fe8 *f, const fe8 *g) {
    const __m512i b0 = _mm512_set1_epi64(0xfffffffffffdaLL),
                  bi = _mm512_set1_epi64(0xffffffffffffeLL);
    __m512i r[5];
    for (int i = 0; i < 5; i++)
        r[i] = _mm512_sub_epi64(ADD(f->v[i], i == 0 ? b0 : bi), g->v[i]);
    fe8_carry_cols(h, r);
}

/* f * k + g for a constant k < 2^20 (g tight; columns below 2^52 + 2^21 + T < 2^53.1). */
static inline void fe8_mul_small_add(fe8 *h, const fe8 *f, uint64_t k, const fe8 *g) {
    const __m512i kk = _mm512_set1_epi64((long long)k);
    __m512i lo[5], hi[5], r[5];
    for (int i = 0; i < 5; i++) {
        lo[i] = MLO(g->v[i], f->v[i], kk);
        hi[i] = MHI(_mm512_setzero_si512(), f->v[i], kk);
        hi[i] = ADD(hi[i], hi[i]); /* weight 2^(51i+52) = 2 * 2^(51(i+1)) */
    }
    r[0] = ADD(lo[0], mul19(hi[4]));
    for (int i = 1; i < 5; i++) r[i] = ADD(lo[i], hi[i - 1]);
    fe8_carry_cols(h, r);
}

/* f * k for a constant k < 2^20. */
static inline void fe8_mul_small(fe8 *h, const fe8 *f, uint64_t k) {
    fe8 zero;
    for (int i = 0; i < 5; i++) zero.v[i] = _mm512_setzero_si512();
    fe8_mul_small_add(h, f, k, &zero);
}

/* Swap f and g in every lane where mask is all ones. */
static inline void fe8_cswap(fe8 *f, fe8 *g, __m512i mask) {
    for (int i = 0; i < 5; i++) {
        __m512i t = _mm512_and_si512(mask, _mm512_xor_si512(f->v[i], g->v[i]));
        f->v[i] = _mm512_xor_si512(f->v[i], t);
        g->v[i] = _mm512_xor_si512(g->v[i], t);
    }
}

/* h = g in every lane where mask is all ones. */
static inline void fe8_cmov(fe8 *h, const fe8 *g, __m512i mask) {
    for (int i = 0; i < 5; i++)
        h->v[i] = _mm512_xor_si512(h->v[i],
                                   _mm512_and_si512(mask, _mm512_xor_si512(h->v[i], g->v[i])));
}

/* --- lanes <-> radix-2^51 scalars (a transpose) ------------------------------------------- */

static inline void fe8_pack(fe8 *h, const fe f[8]) {
    for (int k = 0; k < 5; k++) {
        uint64_t lanes[8];
        for (int l = 0; l < 8; l++) lanes[l] = f[l].v[k];
        h->v[k] = _mm512_loadu_si512((const void *)lanes);
    }
}

static inline void fe8_broadcast(fe8 *h, const fe *f) {
    for (int k = 0; k < 5; k++) h->v[k] = _mm512_set1_epi64((long long)f->v[k]);
}

static inline void fe8_unpack(fe out[8], const fe8 *h) {
    uint64_t lanes[5][8];
    for (int k = 0; k < 5; k++) _mm512_storeu_si512((void *)lanes[k], h->v[k]);
    for (int l = 0; l < 8; l++)
        for (int k = 0; k < 5; k++) out[l].v[k] = lanes[k][l];
}

/* All ones in the lanes where bits[l] is 1. */
static inline __m512i lane_mask(const uint64_t bits[8]) {
    uint64_t m[8];
    for (int l = 0; l < 8; l++) m[l] = (uint64_t)0 - bits[l];
    return _mm512_loadu_si512((const void *)m);
}

static inline __m512i fe8_iszero_mask(const fe8 *f) {
    fe lanes[8];
    uint64_t bits[8];
    fe8_unpack(lanes, f);
    for (int l = 0; l < 8; l++) bits[l] = fe_iszero(&lanes[l]);
    return lane_mask(bits);
}

static inline __m512i fe8_equal_mask(const fe8 *f, const fe8 *g) {
    fe8 d;
    fe8_sub(&d, f, g);
    return fe8_iszero_mask(&d);
}

static inline __m512i fe8_sgn0_mask(const fe8 *f) {
    fe lanes[8];
    uint64_t bits[8];
    fe8_unpack(lanes, f);
    for (int l = 0; l < 8; l++) bits[l] = fe_sgn0(&lanes[l]);
    return lane_mask(bits);
}

static inline void fe8_neg(fe8 *h, const fe8 *f) {
    fe8 z;
    for (int i = 0; i < 5; i++) z.v[i] = _mm512_setzero_si512();
    fe8_sub(h, &z, f);
}

/* z^((p - 5) / 8) = z^(2^252 - 3), the exponent of RFC 9380 G.2.1 (c4). */
static void fe8_pow_p58(fe8 *out, const fe8 *z) {
    fe8 t0, t1, t2, z11;
    fe8_sq(&t0, z);
    fe8_sqn(&t1, &t0, 2);
    fe8_mul(&t1, &t1, z);        /* z^9 */
    fe8_mul(&z11, &t0, &t1);     /* z^11 */
    fe8_sq(&t0, &z11);
    fe8_mul(&t0, &t0, &t1);      /* 2^5 - 1 */
    fe8_sqn(&t1, &t0, 5);
    fe8_mul(&t0, &t1, &t0);      /* 2^10 - 1 */
    fe8_sqn(&t1, &t0, 10);
    fe8_mul(&t1, &t1, &t0);      /* 2^20 - 1 */
    fe8_sqn(&t2, &t1, 20);
    fe8_mul(&t1, &t2, &t1);      /* 2^40 - 1 */
    fe8_sqn(&t1, &t1, 10);
    fe8_mul(&t0, &t1, &t0);      /* 2^50 - 1 */
    fe8_sqn(&t1, &t0, 50);
    fe8_mul(&t1, &t1, &t0);      /* 2^100 - 1 */
    fe8_sqn(&t2, &t1, 100);
    fe8_mul(&t1, &t2, &t1);      /* 2^200 - 1 */
    fe8_sqn(&t1, &t1, 50);
    fe8_mul(&t1, &t1, &t0);      /* 2^250 - 1 */
    fe8_sqn(&t1, &t1, 2);        /* 2^252 - 4 */
    fe8_mul(out, &t1, z);        /* 2^252 - 3 */
}

/* --- X25519, eight points per ladder ------------------------------------------------------- */

static void ladder8(fe8 *x2_out, fe8 *z2_out, const uint8_t k[32], const fe8 *u) {
    fe8 x1 = *u, x2, z2, x3 = *u, z3;
    for (int i = 0; i < 5; i++) {
        x2.v[i] = z3.v[i] = _mm512_set1_epi64(i == 0);
        z2.v[i] = _mm512_setzero_si512();
    }
    uint64_t swap = 0;
    for (int t = 254; t >= 0; t--) {
        uint64_t kt = (k[t >> 3] >> (t & 7)) & 1;
        swap ^= kt;
        __m512i mask = _mm512_set1_epi64(-(long long)swap);
        fe8_cswap(&x2, &x3, mask);
        fe8_cswap(&z2, &z3, mask);
        swap = kt;
        fe8 a, aa, b, bb, e, c, d, da, cb, t0;
        fe8_add(&a, &x2, &z2);
        fe8_sub(&b, &x2, &z2);
        fe8_add(&c, &x3, &z3);
        fe8_sub(&d, &x3, &z3);
        fe8_sq(&aa, &a);
        fe8_sq(&bb, &b);
        fe8_mul(&da, &d, &a);
        fe8_mul(&cb, &c, &b);
        fe8_sub(&e, &aa, &bb);
        fe8_add(&t0, &da, &cb);
        fe8_sq(&x3, &t0);
        fe8_sub(&t0, &da, &cb);
        fe8_sq(&t0, &t0);
        fe8_mul(&z3, &x1, &t0);
        fe8_mul(&x2, &aa, &bb);
        fe8_mul_small_add(&t0, &e, 121665, &aa);
        fe8_mul(&z2, &e, &t0);
    }
    __m512i mask = _mm512_set1_epi64(-(long long)swap);
    fe8_cswap(&x2, &x3, mask);
    fe8_cswap(&z2, &z3, mask);
    *x2_out = x2;
    *z2_out = z2;
}

void bm_x25519_batch_ifma(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                          size_t n) {
    uint8_t k[32];
    bm_clamp(k, scalar);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = 0; base < n; base += BM_BLOCK) {
        size_t m = n - base < BM_BLOCK ? n - base : BM_BLOCK;
        for (size_t i = 0; i < m; i += 8) {
            fe u[8];
            for (size_t l = 0; l < 8; l++) {
                /* a short last group repeats its first point in the spare lanes */
                size_t src = i + l < m ? base + i + l : base + i;
                fe_frombytes(&u[l], points + 32 * src);
            }
            fe8 u8, x8, z8;
            fe8_pack(&u8, u);
            ladder8(&x8, &z8, k, &u8);
            fe xl[8], zl[8];
            fe8_unpack(xl, &x8);
            fe8_unpack(zl, &z8);
            for (size_t l = 0; l < 8 && i + l < m; l++) {
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

/* --- expand_message_xmd (RFC 9380 §5.3.1), eight messages per SHA-512 ------------------- */

/* One SHA-512 block (FIPS 180-4 §6.4.2) in each lane; lanes outside `active` keep their
 * state (a message with fewer blocks than the others: lengths are public). */
static void sha512x8_block(__m512i h[8], const __m512i block[16], __mmask8 active) {
#define ROR(x, n) _mm512_ror_epi64((x), (n))
#define XOR3(x, y, z) _mm512_ternarylogic_epi64((x), (y), (z), 0x96)
    __m512i w[16];
    for (int t = 0; t < 16; t++) w[t] = block[t];
    __m512i a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 80; t++) {
        if (t >= 16) {
            __m512i w15 = w[(t + 1) & 15], w2 = w[(t + 14) & 15];
            __m512i s0 = XOR3(ROR(w15, 1), ROR(w15, 8), _mm512_srli_epi64(w15, 7));
            __m512i s1 = XOR3(ROR(w2, 19), ROR(w2, 61), _mm512_srli_epi64(w2, 6));
            w[t & 15] = ADD(ADD(w[t & 15], s0), ADD(w[(t + 9) & 15], s1));
        }
        __m512i S1 = XOR3(ROR(e, 14), ROR(e, 18), ROR(e, 41));
        __m512i ch = _mm512_ternarylogic_epi64(e, f, g, 0xca);  /* e ? f : g */
        __m512i t1 = ADD(ADD(k, S1), ADD(ch, ADD(_mm512_set1_epi64((long long)BM_SHA512_K[t]),
                                                  w[t & 15])));
        __m512i S0 = XOR3(ROR(a, 28), ROR(a, 34), ROR(a, 39));
        __m512i maj = _mm512_ternarylogic_epi64(a, b, c, 0xe8);
        k = g; g = f; f = e; e = ADD(d, t1); d = c; c = b; b = a; a = ADD(t1, ADD(S0, maj));
    }
    __m512i s[8] = {a, b, c, d, e, f, g, k};
    for (int i = 0; i < 8; i++) h[i] = _mm512_mask_add_epi64(h[i], active, h[i], s[i]);
#undef ROR
#undef XOR3
}

/* Big-endian words t of block j of eight byte strings, as lanes (0 past a lane's end). */
static inline void load_words8(__m512i out[16], uint8_t *const bufs[8], const size_t nblocks[8],
                               size_t j) {
    uint64_t w[16][8];
    for (int l = 0; l < 8; l++)
        for (int t = 0; t < 16; t++) {
            uint64_t v = 0;
            if (j < nblocks[l]) {  /* lengths are public */
                memcpy(&v, bufs[l] + 128 * j + 8 * t, 8);
                v = __builtin_bswap64(v);
            }
            w[t][l] = v;
        }
    for (int t = 0; t < 16; t++) out[t] = _mm512_loadu_si512((const void *)w[t]);
}

/* Bytes absorbed per lane in b_0 after Z_pad: msg || I2OSP(96, 2) || 0 || DST_prime. */
#define XMD_CAP 1024

/* SHA-512 padding of a string of len bytes (after `prior` bytes already hashed) written at
 * buf + len; returns the padded length (a multiple of 128). */
static size_t sha512_pad(uint8_t *buf, size_t len, size_t prior) {
    size_t padded = (len + 17 + 127) / 128 * 128;
    memset(buf + len, 0, padded - len);
    buf[len] = 0x80;
    uint64_t bits = __builtin_bswap64((uint64_t)(len + prior) * 8);
    memcpy(buf + padded - 8, &bits, 8);
    return padded;
}

/* b_1 or b_2 for eight lanes: SHA-512(words || idx || DST_prime), words being 64 bytes per
 * lane given as eight big-endian word vectors. The tail is the same in every lane. */
static void xmd_block8(__m512i out[8], const __m512i first[8], uint8_t idx,
                       const bm_h2c_job *job) {
    uint8_t tail[64 + 1 + 256 + 17 + 128];
    size_t n = 64 + 1 + job->dst_prime_len;
    memset(tail, 0, 64);
    tail[64] = idx;
    memcpy(tail + 65, job->dst_prime, job->dst_prime_len);
    size_t padded = sha512_pad(tail, n, 0);
    for (int i = 0; i < 8; i++) out[i] = _mm512_set1_epi64((long long)BM_SHA512_IV[i]);
    for (size_t j = 0; j < padded / 128; j++) {
        __m512i blk[16];
        for (int t = 0; t < 16; t++) {
            uint64_t v;
            memcpy(&v, tail + 128 * j + 8 * t, 8);
            blk[t] = _mm512_set1_epi64((long long)__builtin_bswap64(v));
        }
        if (j == 0)
            for (int t = 0; t < 8; t++) blk[t] = first[t];
        sha512x8_block(out, blk, 0xff);
    }
}

/* u0, u1 of messages first .. first + count - 1 (count <= 8) into lanes 0 .. count - 1: the
 * three SHA-512 computations of expand_message_xmd (len_in_bytes 96) eight at a time. Returns
 * 0 (nothing written) when a message is too long for the lane buffers; the caller then uses
 * the one-message code. */
static int field_pairs8(const bm_h2c_job *job, const bm_sha512 *zpad, size_t first,
                        size_t count, fe u0[8], fe u1[8]) {
    static const uint8_t tail0[3] = {0x00, 0x60, 0x00};  /* I2OSP(96, 2) || I2OSP(0, 1) */
    uint8_t store[8][XMD_CAP];
    uint8_t *bufs[8];
    size_t nblocks[8], most = 0;
    for (size_t l = 0; l < 8; l++) {
        bufs[l] = store[l];
        size_t src = first + (l < count ? l : 0);
        size_t len = job->lens[src] + 3 + job->dst_prime_len;
        if (len + 17 > XMD_CAP) return 0;
        memcpy(store[l], job->msgs[src], job->lens[src]);
        memcpy(store[l] + job->lens[src], tail0, 3);
        memcpy(store[l] + job->lens[src] + 3, job->dst_prime, job->dst_prime_len);
        nblocks[l] = sha512_pad(store[l], len, 128) / 128;
        if (nblocks[l] > most) most = nblocks[l];
    }
    __m512i b0[8], b1[8], mix[8], b2[8];
    for (int i = 0; i < 8; i++) b0[i] = _mm512_set1_epi64((long long)zpad->h[i]);
    for (size_t j = 0; j < most; j++) {
        __m512i blk[16];
        __mmask8 active = 0;
        for (int l = 0; l < 8; l++) active |= (__mmask8)((j < nblocks[l]) << l);
        load_words8(blk, bufs, nblocks, j);
        sha512x8_block(b0, blk, active);
    }
    xmd_block8(b1, b0, 1, job);
    for (int i = 0; i < 8; i++) mix[i] = _mm512_xor_si512(b0[i], b1[i]);
    xmd_block8(b2, mix, 2, job);
    uint64_t w1[8][8], w2[8][8];
    for (int i = 0; i < 8; i++) {
        _mm512_storeu_si512((void *)w1[i], b1[i]);
        _mm512_storeu_si512((void *)w2[i], b2[i]);
    }
    for (size_t l = 0; l < count; l++) {
        uint8_t uniform[128];
        for (int i = 0; i < 8; i++) {
            uint64_t v1 = __builtin_bswap64(w1[i][l]), v2 = __builtin_bswap64(w2[i][l]);
            memcpy(uniform + 8 * i, &v1, 8);
            memcpy(uniform + 64 + 8 * i, &v2, 8);
        }
        bm_fe_from_be48(&u0[l], uniform);
        bm_fe_from_be48(&u1[l], uniform + 48);
    }
    return 1;
}

/* --- hash to curve, eight messages per Elligator 2 map ----------------------------------- */

static fe8 C_SQRT_M1, C_C2, C_NEG_A, C_ONE;

void bm_ifma_init(void) {
    fe one;
    fe_1(&one);
    fe8_broadcast(&C_SQRT_M1, &bm_K.sqrt_m1);
    fe8_broadcast(&C_C2, &bm_K.c2);
    fe8_broadcast(&C_NEG_A, &bm_K.neg_a);
    fe8_broadcast(&C_ONE, &one);
}

/* RFC 9380 G.2.1, as elligator2 in bm_curve.c, lane by lane. */
static void elligator2_8(fe8 *xn, fe8 *xd, fe8 *y, const fe8 *u) {
    fe8 tv1, tv2, tv3, gxd, gx1, gx2, y11, y12, y21, y22, y1, y2, x1n, x2n, t;
    fe8_sq(&tv1, u);
    fe8_add(&tv1, &tv1, &tv1);
    fe8_add(xd, &tv1, &C_ONE);
    x1n = C_NEG_A;
    fe8_sq(&tv2, xd);
    fe8_mul(&gxd, &tv2, xd);
    fe8_mul_small(&gx1, &tv1, 486662);
    fe8_mul(&gx1, &gx1, &x1n);
    fe8_add(&gx1, &gx1, &tv2);
    fe8_mul(&gx1, &gx1, &x1n);
    fe8_sq(&tv3, &gxd);
    fe8_sq(&tv2, &tv3);
    fe8_mul(&tv3, &tv3, &gxd);
    fe8_mul(&tv3, &tv3, &gx1);
    fe8_mul(&tv2, &tv2, &tv3);
    fe8_pow_p58(&y11, &tv2);
    fe8_mul(&y11, &y11, &tv3);
    fe8_mul(&y12, &y11, &C_SQRT_M1);
    fe8_sq(&tv2, &y11);
    fe8_mul(&tv2, &tv2, &gxd);
    __m512i e1 = fe8_equal_mask(&tv2, &gx1);
    y1 = y12;
    fe8_cmov(&y1, &y11, e1);
    fe8_mul(&x2n, &x1n, &tv1);
    fe8_mul(&y21, &y11, u);
    fe8_mul(&y21, &y21, &C_C2);
    fe8_mul(&y22, &y21, &C_SQRT_M1);
    fe8_mul(&gx2, &gx1, &tv1);
    fe8_sq(&tv2, &y21);
    fe8_mul(&tv2, &tv2, &gxd);
    __m512i e2 = fe8_equal_mask(&tv2, &gx2);
    y2 = y22;
    fe8_cmov(&y2, &y21, e2);
    fe8_sq(&tv2, &y1);
    fe8_mul(&tv2, &tv2, &gxd);
    __m512i e3 = fe8_equal_mask(&tv2, &gx1);
    *xn = x2n;
    fe8_cmov(xn, &x1n, e3);
    *y = y2;
    fe8_cmov(y, &y1, e3);
    __m512i e4 = fe8_sgn0_mask(y);
    fe8_neg(&t, y);
    fe8_cmov(y, &t, _mm512_xor_si512(e3, e4));
}

static inline void fe8_x_double(fe8 *x, fe8 *z) {
    fe8 a, b, aa, bb, e, t;
    fe8_add(&a, x, z);
    fe8_sub(&b, x, z);
    fe8_sq(&aa, &a);
    fe8_sq(&bb, &b);
    fe8_mul(x, &aa, &bb);
    fe8_sub(&e, &aa, &bb);
    fe8_mul_small_add(&t, &e, 121665, &aa);
    fe8_mul(z, &e, &t);
}

/* h2c_projective of bm_curve.c on eight messages. */
static void h2c_projective8(fe8 *X, fe8 *Z, const fe8 *u0, const fe8 *u1) {
    fe8 xn0, xd0, y0, xn1, xd1, y1;
    elligator2_8(&xn0, &xd0, &y0, u0);
    elligator2_8(&xn1, &xd1, &y1, u1);
    fe8 a0, a1, d, e, n, s, d2, e3, t, x, z;
    fe8_mul(&a0, &xn0, &xd1);
    fe8_mul(&a1, &xn1, &xd0);
    fe8_sub(&d, &a1, &a0);
    fe8_add(&s, &a0, &a1);
    fe8_mul(&e, &xd0, &xd1);
    fe8_sub(&n, &y1, &y0);
    fe8_sq(&d2, &d);
    fe8_sq(&e3, &e);
    fe8_mul(&e3, &e3, &e);
    fe8_sq(&t, &n);
    fe8_mul(&x, &t, &e3);
    fe8_mul_small_add(&t, &e, 486662, &s);
    fe8_mul(&t, &t, &d2);
    fe8_sub(&x, &x, &t);
    fe8_mul(&z, &d2, &e);
    fe8 dx = xn0, dz = xd0;
    fe8_x_double(&dx, &dz);
    __m512i same = _mm512_and_si512(fe8_iszero_mask(&d), fe8_iszero_mask(&n));
    fe8_cmov(&x, &dx, same);
    fe8_cmov(&z, &dz, same);
    for (int i = 0; i < 3; i++) fe8_x_double(&x, &z);  /* clear_cofactor: h_eff = 8 */
    *X = x;
    *Z = z;
}

void bm_h2c_batch_ifma(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out) {
    bm_sha512 zpad;
    bm_zpad_state(&zpad);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = start; base < stop; base += BM_BLOCK) {
        size_t m = stop - base < BM_BLOCK ? stop - base : BM_BLOCK;
        for (size_t i = 0; i < m; i += 8) {
            fe u0[8], u1[8];
            size_t count = m - i < 8 ? m - i : 8;
            if (!field_pairs8(job, &zpad, base + i, count, u0, u1))
                for (size_t l = 0; l < count; l++)  /* a message too long for field_pairs8 */
                    bm_field_pair(job, &zpad, base + i + l, &u0[l], &u1[l]);
            for (size_t l = count; l < 8; l++) {  /* spare lanes of a short group: any input */
                u0[l] = u0[0];
                u1[l] = u1[0];
            }
            fe8 U0, U1, X, Z;
            fe8_pack(&U0, u0);
            fe8_pack(&U1, u1);
            h2c_projective8(&X, &Z, &U0, &U1);
            fe xl[8], zl[8];
            fe8_unpack(xl, &X);
            fe8_unpack(zl, &Z);
            for (size_t l = 0; l < 8 && i + l < m; l++) {
                xs[i + l] = xl[l];
                zs[i + l] = zl[l];
                fe_carry(&xs[i + l]);
                fe_carry(&zs[i + l]);
            }
        }
        bm_affine_bytes(xs, zs, scratch, m, out + 32 * (base - start));
    }
}
