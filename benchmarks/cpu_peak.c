/* The CPU's own multiply-accumulate ceiling per precision, from its widest instructions.
 *
 * Each kernel keeps ACCUMULATORS independent chains of one instruction busy in every thread,
 * so the core's vector units, not latency or memory, set the rate: fp32 FMA (vfmadd, 16 MACs a
 * 512-bit instruction), int8 VNNI (vpdpbusd, 64 u8 x s8 MACs) and bf16 (vdpbf16ps, 32 MACs).
 * No engine computes one precision faster on these units (AMX, where present, is another
 * unit and is not measured here). Built and run by cpu_peak.py, which asks only for the kernels
 * the CPU has; a kernel on a CPU without its instructions would fault.
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

__attribute__((target("avx512f"))) static void *fp32_fma(void *out) {
    __m512 a = _mm512_set1_ps(1e-7f), b = _mm512_set1_ps(1.0f), acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_setzero_ps();
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16 /* every accumulator in a register */
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
        __asm__ volatile("" : "+v"(a)); /* keeps the compiler from folding the loop */
    }
    for (int i = 1; i < ACCUMULATORS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *(float *)out = _mm512_reduce_add_ps(acc[0]);
    return NULL;
}

__attribute__((target("avx512f,avx512vnni"))) static void *int8_vnni(void *out) {
    __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2), acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_setzero_si512();
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16 /* every accumulator in a register */
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));
    }
    for (int i = 1; i < ACCUMULATORS; i++) acc[0] = _mm512_add_epi32(acc[0], acc[i]);
    *(int *)out = _mm512_reduce_add_epi32(acc[0]);
    return NULL;
}

__attribute__((target("avx512f,avx512bf16"))) static void *bf16_dot(void *out) {
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = a; /* 1.0 in bfloat16 */
    __m512 acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_setzero_ps();
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16 /* every accumulator in a register */
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));
    }
    for (int i = 1; i < ACCUMULATORS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *(float *)out = _mm512_reduce_add_ps(acc[0]);
    return NULL;
}

static const struct { const char *name; void *(*run)(void *); int macs; } KERNELS[] = {
    {"fp32", fp32_fma, 16}, {"int8", int8_vnni, 64}, {"bf16", bf16_dot, 32}};

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: cpu_peak fp32|int8|bf16 THREADS ITERATIONS\n");
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
