/* Constant-time check for blindmatch's C engine, ctgrind-style: the secret inputs (the X25519
 * scalar; the messages hashed to the curve, which are a party's own keys; the input of CPace's
 * generator map, which derives from the pairing code) are marked as undefined memory, so
 * valgrind's memcheck reports every branch taken on them ("Conditional jump or move depends
 * on uninitialised value") and every memory address computed from them ("Use of
 * uninitialised value" in an address). Outputs are declassified (marked defined)
 * only after the computation. Run by tools/ct_check.sh; any memcheck error fails it. */
#include <stdio.h>
#include <string.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#include "bm_curve.h"

#define N 9 /* not a multiple of 4 or 8: the vector paths' spare lanes are exercised too */

static uint8_t scalar[32], points[32 * N], out[32 * N];
static uint8_t msgbuf[N][80];
/* The portable path's outputs: every other path must give the same bytes. */
static uint8_t want_x[32 * N], want_h[32 * N];
static int have_want, mismatches;

static void compare(const char *path, const char *what, uint8_t *want) {
    if (!have_want) {
        memcpy(want, out, sizeof out);
        return;
    }
    int same = memcmp(want, out, sizeof out) == 0;
    printf("%s %s: %s the portable path's output\n", path, what, same ? "equals" : "DIFFERS FROM");
    mismatches += !same;
}

static void run(const char *path, void (*x25519)(const uint8_t *, const uint8_t *, uint8_t *, size_t),
                void (*h2c)(const bm_h2c_job *, size_t, size_t, uint8_t *)) {
    for (int i = 0; i < 32; i++) scalar[i] = (uint8_t)(37 * i + 11);
    for (int i = 0; i < 32 * N; i++) points[i] = (uint8_t)(13 * i + 5);
    VALGRIND_MAKE_MEM_UNDEFINED(scalar, sizeof scalar);
    x25519(scalar, points, out, N);
    VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
    printf("%s x25519: first output byte %02x\n", path, out[0]);
    compare(path, "x25519", want_x);

    const uint8_t *msgs[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 80; j++) msgbuf[i][j] = (uint8_t)(i * 7 + j);
        msgs[i] = msgbuf[i];
        lens[i] = (size_t)(10 + 7 * i); /* lengths are public; the bytes are not */
    }
    VALGRIND_MAKE_MEM_UNDEFINED(msgbuf, sizeof msgbuf);
    static const uint8_t dst[] = "blindmatch/1 h2c ct-check\x19";
    bm_h2c_job job = {msgs, lens, dst, sizeof dst - 1};
    h2c(&job, 0, N, out);
    VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
    printf("%s h2c: first output byte %02x\n", path, out[0]);
    compare(path, "h2c", want_h);
    have_want = 1;
}

/* A deliberate leak, to show that the marking works: tools/ct_check.sh expects memcheck to
 * flag this branch on a secret byte. */
static int leak_demo(void) {
    VALGRIND_MAKE_MEM_UNDEFINED(scalar, sizeof scalar);
    if (scalar[0] & 1) puts("odd");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--leak-demo") == 0) return leak_demo();
    bm_curve_init();
    uint8_t u[32], gen[32];  /* CPace's generator input derives from the pairing code */
    for (int i = 0; i < 32; i++) u[i] = (uint8_t)(91 * i + 3);
    VALGRIND_MAKE_MEM_UNDEFINED(u, sizeof u);
    bm_elligator2_x(u, gen);
    VALGRIND_MAKE_MEM_DEFINED(gen, sizeof gen);
    printf("elligator2 map: first output byte %02x\n", gen[0]);
    run("portable", bm_x25519_batch_portable, bm_h2c_batch_portable);
#if defined(BM_HAVE_AVX2_PATH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        bm_avx2_init();
        run("avx2", bm_x25519_batch_avx2, bm_h2c_batch_avx2);
    } else {
        printf("avx2: not on this CPU\n");
    }
#endif
#if defined(BM_IFMA_EMULATE)
    /* bm_ifma.c with its intrinsics written in C (tools/ct/ifma_emul.h): memcheck sees the
     * path's own branches and addresses; no CPU feature is needed. */
    bm_ifma_init();
    run("avx512ifma (intrinsics emulated in C)", bm_x25519_batch_ifma, bm_h2c_batch_ifma);
#elif defined(BM_HAVE_IFMA_PATH)
    /* valgrind (3.19 and later releases too) cannot execute AVX-512 instructions and hides
     * avx512f/avx512ifma from the program's cpuid, so this path is never checked here: say so
     * rather than skip silently. tools/check_native_timing.py times it instead. */
    if (RUNNING_ON_VALGRIND) {
        printf("avx512ifma: NOT CHECKED: valgrind cannot run AVX-512 code; "
               "see tools/check_native_timing.py\n");
    } else {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma")) {
            bm_ifma_init();
            run("avx512ifma (not under valgrind: nothing checked)", bm_x25519_batch_ifma,
                bm_h2c_batch_ifma);
        } else {
            printf("avx512ifma: not on this CPU\n");
        }
    }
#endif
    return mismatches ? 3 : 0;
}
