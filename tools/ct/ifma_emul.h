/* Portable stand-ins for the AVX-512 intrinsics csrc/bm_ifma.c uses, for tools/ct_check.sh.
 *
 * Why: valgrind cannot execute AVX-512, so memcheck never sees the IFMA path. Compiled with
 * -DBM_IFMA_EMULATE, bm_ifma.c includes this file instead of <immintrin.h>: every vector
 * becomes eight uint64_t lanes and every intrinsic a loop over them, written without a branch
 * or an index on lane values. memcheck then checks the path's own control flow and memory
 * addresses (what a secret could leak through in C), not the instructions the real build
 * emits; the harness also compares the emulated outputs with the portable path's.
 * Only what bm_ifma.c uses is here: a missing intrinsic is a compile error. */
#pragma once

#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t l[8];
} bm_emu512;
typedef uint8_t __mmask8;
#define __m512i bm_emu512

#define BM_LANES(expr)                       \
    do {                                     \
        for (int i_ = 0; i_ < 8; i_++) expr; \
    } while (0)

static inline __m512i _mm512_setzero_si512(void) {
    __m512i r;
    memset(&r, 0, sizeof r);
    return r;
}
static inline __m512i _mm512_set1_epi64(long long x) {
    __m512i r;
    BM_LANES(r.l[i_] = (uint64_t)x);
    return r;
}
static inline __m512i _mm512_add_epi64(__m512i a, __m512i b) {
    __m512i r;
    BM_LANES(r.l[i_] = a.l[i_] + b.l[i_]);
    return r;
}
static inline __m512i _mm512_sub_epi64(__m512i a, __m512i b) {
    __m512i r;
    BM_LANES(r.l[i_] = a.l[i_] - b.l[i_]);
    return r;
}
static inline __m512i _mm512_and_si512(__m512i a, __m512i b) {
    __m512i r;
    BM_LANES(r.l[i_] = a.l[i_] & b.l[i_]);
    return r;
}
static inline __m512i _mm512_xor_si512(__m512i a, __m512i b) {
    __m512i r;
    BM_LANES(r.l[i_] = a.l[i_] ^ b.l[i_]);
    return r;
}
/* Shift counts are compile-time constants in bm_ifma.c (public). */
static inline __m512i _mm512_srli_epi64(__m512i a, unsigned n) {
    __m512i r;
    BM_LANES(r.l[i_] = n > 63 ? 0 : a.l[i_] >> n);
    return r;
}
static inline __m512i _mm512_slli_epi64(__m512i a, unsigned n) {
    __m512i r;
    BM_LANES(r.l[i_] = n > 63 ? 0 : a.l[i_] << n);
    return r;
}
static inline __m512i _mm512_ror_epi64(__m512i a, int n) {
    __m512i r;
    unsigned s = (unsigned)n & 63;
    BM_LANES(r.l[i_] = s ? (a.l[i_] >> s) | (a.l[i_] << (64 - s)) : a.l[i_]);
    return r;
}
/* acc + the low / high 52 bits of the 104-bit product of the low 52 bits of a and b. */
static inline __m512i _mm512_madd52lo_epu64(__m512i acc, __m512i a, __m512i b) {
    const uint64_t m52 = (1ULL << 52) - 1;
    __m512i r;
    BM_LANES(r.l[i_] = acc.l[i_] +
                       ((uint64_t)((unsigned __int128)(a.l[i_] & m52) * (b.l[i_] & m52)) & m52));
    return r;
}
static inline __m512i _mm512_madd52hi_epu64(__m512i acc, __m512i a, __m512i b) {
    const uint64_t m52 = (1ULL << 52) - 1;
    __m512i r;
    BM_LANES(r.l[i_] = acc.l[i_] +
                       (uint64_t)(((unsigned __int128)(a.l[i_] & m52) * (b.l[i_] & m52)) >> 52));
    return r;
}
/* src where bit i of k is 0, a + b where it is 1: by a mask, not a branch. */
static inline __m512i _mm512_mask_add_epi64(__m512i src, __mmask8 k, __m512i a, __m512i b) {
    __m512i r;
    BM_LANES({
        uint64_t m = 0 - (uint64_t)((k >> i_) & 1);
        r.l[i_] = (src.l[i_] & ~m) | ((a.l[i_] + b.l[i_]) & m);
    });
    return r;
}
/* Bit j of the result is bit (a_j b_j c_j) of imm (a constant: the loop is over its bits). */
static inline __m512i _mm512_ternarylogic_epi64(__m512i a, __m512i b, __m512i c, int imm) {
    __m512i r = _mm512_setzero_si512();
    for (int k = 0; k < 8; k++) {
        if (!((imm >> k) & 1)) continue;
        BM_LANES(r.l[i_] |= ((k & 4) ? a.l[i_] : ~a.l[i_]) & ((k & 2) ? b.l[i_] : ~b.l[i_]) &
                            ((k & 1) ? c.l[i_] : ~c.l[i_]));
    }
    return r;
}
static inline __m512i _mm512_loadu_si512(const void *p) {
    __m512i r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void _mm512_storeu_si512(void *p, __m512i a) { memcpy(p, &a, sizeof a); }
