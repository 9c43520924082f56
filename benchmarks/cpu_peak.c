/* The CPU's own multiply-accumulate ceiling per precision, from its widest instructions.
 *
 * Each kernel keeps ACCUMULATORS independent chains of one instruction busy in every thread,
 * so the core's vector units, not latency or memory, set the rate: fp32 FMA (vfmadd, 16 MACs a
 * 512-bit instruction), int8 VNNI (vpdpbusd, 64 u8 x s8 MACs) and bf16 (vdpbf16ps, 32 MACs).
 * On a CPU without AVX-512, the 256-bit ones: fp32 FMA (8 MACs) and int8 as engines compute it
 * without VNNI (vpmaddubsw's u8 x s8 pairs summed in 16 bits, vpmaddwd by ones into 32 bits,
 * vpaddd: 32 MACs in three instructions). No engine computes one precision faster on these
 * units (AMX, where present, is another unit and is not measured here). Built and run by
 * cpu_peak.py, which asks only for the kernels the CPU has; a kernel on a CPU without its
 * instructions would fault.
 *
 *     cpu_peak KERNEL THREADS ITERATIONS   ->   {"kernel": ..., "gmacs_per_s": ...}
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCUMULATORS 12

static long iterations;

/* One kernel: ACCUMULATORS chains of STEP(acc, a, a) for `iterations`, folded with ADD and
 * REDUCE into `out` so that the compiler keeps them. */
#define KERNEL(NAME, TARGET, ACC_T, IN_T, ZERO, INPUT, STEP, ADD, REDUCE, OUT_T) \
    __attribute__((target(TARGET))) static void *NAME(void *out) { \
        IN_T a = INPUT; \
        ACC_T acc[ACCUMULATORS]; \
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = ZERO; \
        for (long n = 0; n < iterations; n++) { \
            _Pragma("GCC unroll 16") /* every accumulator in a register */ \
            for (int i = 0; i < ACCUMULATORS; i++) acc[i] = STEP(acc[i], a, a); \
            __asm__ volatile("" : "+v"(a)); /* keeps the compiler from folding the loop */ \
        } \
        for (int i = 1; i < ACCUMULATORS; i++) acc[0] = ADD(acc[0], acc[i]); \
        *(OUT_T *)out = REDUCE(acc[0]); \
        return NULL; \
    }

#define FMA(acc, a, b) _mm512_fmadd_ps(a, b, acc)
KERNEL(fp32_fma, "avx512f", __m512, __m512, _mm512_setzero_ps(), _mm512_set1_ps(1e-7f), FMA,
       _mm512_add_ps, _mm512_reduce_add_ps, float)
KERNEL(int8_vnni, "avx512f,avx512vnni", __m512i, __m512i, _mm512_setzero_si512(),
       _mm512_set1_epi8(1), _mm512_dpbusd_epi32, _mm512_add_epi32, _mm512_reduce_add_epi32, int)
KERNEL(bf16_dot, "avx512f,avx512bf16", __m512, __m512bh, _mm512_setzero_ps(),
       (__m512bh)_mm512_set1_epi16(0x3f80) /* 1.0 in bfloat16 */, _mm512_dpbf16_ps,
       _mm512_add_ps, _mm512_reduce_add_ps, float)

#define FMA256(acc, a, b) _mm256_fmadd_ps(a, b, acc)
#define DOT256(acc, a, b) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)))
KERNEL(fp32_fma_avx2, "avx2,fma", __m256, __m256, _mm256_setzero_ps(), _mm256_set1_ps(1e-7f),
       FMA256, _mm256_add_ps, _mm256_cvtss_f32, float)
KERNEL(int8_avx2, "avx2", __m256i, __m256i, _mm256_setzero_si256(), _mm256_set1_epi8(1), DOT256,
       _mm256_add_epi32, _mm256_cvtsi256_si32, int)

static const struct { const char *name; void *(*run)(void *); int macs; } KERNELS[] = {
    {"fp32", fp32_fma, 16}, {"int8", int8_vnni, 64}, {"bf16", bf16_dot, 32},
    {"fp32-avx2", fp32_fma_avx2, 8}, {"int8-avx2", int8_avx2, 32}};

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: cpu_peak fp32|int8|bf16|fp32-avx2|int8-avx2 THREADS ITERATIONS\n");
        return 2;
    }
    int threads = atoi(argv[2]);
    iterations = atol(argv[3]);
    for (size_t k = 0; k < sizeof KERNELS / sizeof *KERNELS; k++) {
        if (strcmp(argv[1], KERNELS[k].name)) continue;
        pthread_t ids[256];
        double sink[256], start = seconds();
        for (int t = 0; t < threads && t < 256; t++) pthread_create(&ids[t], NULL, KERNELS[k].run, &sink[t]);
        for (int t = 0; t < threads && t < 256; t++) pthread_join(ids[t], NULL);
        double elapsed = seconds() - start;
        printf("{\"kernel\": \"%s\", \"threads\": %d, \"seconds\": %.4f, \"gmacs_per_s\": %.2f}\n",
               argv[1], threads, elapsed,
               (double)threads * iterations * ACCUMULATORS * KERNELS[k].macs / elapsed / 1e9);
        return 0;
    }
    fprintf(stderr, "unknown kernel %s\n", argv[1]);
    return 2;
}
