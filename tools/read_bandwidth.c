/* How fast one core, or a team of threads, reads a float32 array of a given
 * size, again and again: the floor of any kernel that must stream that many
 * bytes, such as a one-row prediction, which reads a layer's whole weight
 * matrix. Sizes that fit in L2 measure L2's bandwidth, larger ones L3's or
 * memory's.
 *
 *   gcc -O3 -mavx2 -fopenmp tools/read_bandwidth.c -o /tmp/read_bandwidth
 *   /tmp/read_bandwidth 128 392 448 1024 4096     (sizes in KB, one thread)
 *   /tmp/read_bandwidth --threads 2 784           (two threads)
 *
 * With --threads T, each pass is one OpenMP parallel region in which every
 * thread reads its own contiguous T-th of the array: the pass then costs
 * what a parallel one-row prediction cannot avoid, the start and end of the
 * region included. Eight independent sums keep enough loads in flight (-O3
 * keeps them in registers); the fastest of seven timings, each of about
 * 0.1 s of passes, is reported. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { LANES = 8, SUMS = 8, TRIALS = 7 };

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One pass over x (n floats, a multiple of LANES * SUMS). */
static float pass(const float *x, size_t n)
{
    __m256 sum[SUMS];
    for (int s = 0; s < SUMS; ++s)
        sum[s] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += LANES * SUMS)
        for (int s = 0; s < SUMS; ++s)
            sum[s] = _mm256_add_ps(sum[s], _mm256_load_ps(x + i + s * LANES));
    for (int s = 1; s < SUMS; ++s)
        sum[0] = _mm256_add_ps(sum[0], sum[s]);
    float lanes[LANES];
    _mm256_storeu_ps(lanes, sum[0]);
    return lanes[0];
}

/* One pass over x by `threads` threads, each over its own part: `part`
 * floats (a multiple of LANES * SUMS), the last one the rest of n. */
static float team_pass(const float *x, size_t n, size_t part, int threads)
{
    float total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        const size_t first = (size_t)omp_get_thread_num() * part;
        const size_t count = omp_get_thread_num() == threads - 1 ? n - first : part;
        total += pass(x + first, count);
    }
#else
    (void)part, (void)threads;
    total = pass(x, n);
#endif
    return total;
}

static int usage(const char *program)
{
    fprintf(stderr, "usage: %s [--threads T] KB [KB ...]\n", program);
    return 2;
}

int main(int argc, char **argv)
{
    int threads = 1, first_size = 1;
    if (argc > 2 && strcmp(argv[1], "--threads") == 0) {
        threads = atoi(argv[2]);
        first_size = 3;
#ifndef _OPENMP
        if (threads > 1) {
            fprintf(stderr, "%s: built without OpenMP (-fopenmp): one thread only\n", argv[0]);
            return 2;
        }
#endif
        if (threads < 1)
            return usage(argv[0]);
    }
    if (first_size >= argc)
        return usage(argv[0]);
    for (int a = first_size; a < argc; ++a) {
        const long kb = atol(argv[a]);
        const size_t block = LANES * SUMS;
        const size_t n = (size_t)kb * 1024 / sizeof(float) / block * block;
        const size_t part = n / block / (size_t)threads * block;
        float *x = part ? aligned_alloc(64, n * sizeof(float)) : NULL;
        if (!x) {
            fprintf(stderr, "%s: not a size %d thread(s) can read: %s\n", argv[0], threads,
                    argv[a]);
            return 2;
        }
        for (size_t i = 0; i < n; ++i)
            x[i] = (float)(i % 7);
        const long passes = 1 + 100000000L / (long)(n * sizeof(float));
        double best = 1e30;
        volatile float sink = 0; /* the sums are used, so the passes are made */
        for (int t = 0; t < TRIALS; ++t) {
            const double start = seconds();
            for (long p = 0; p < passes; ++p)
                sink += threads == 1 ? pass(x, n) : team_pass(x, n, part, threads);
            const double per_pass = (seconds() - start) / (double)passes;
            best = per_pass < best ? per_pass : best;
        }
        printf("%6ld KB: %8.2f us a pass, %6.1f GB/s, %d thread(s)\n", kb, best * 1e6,
               (double)(n * sizeof(float)) / best * 1e-9, threads);
        free(x);
    }
    return 0;
}
