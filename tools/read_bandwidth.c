/* How fast one core reads a float32 array of a given size, again and again:
 * the floor of any kernel that must stream that many bytes, such as a
 * one-row prediction, which reads a layer's whole weight matrix. Sizes that
 * fit in L2 measure L2's bandwidth, larger ones L3's or memory's.
 *
 *   gcc -O3 -mavx2 tools/read_bandwidth.c -o /tmp/read_bandwidth
 *   /tmp/read_bandwidth 128 392 448 1024 4096     (sizes in KB)
 *
 * Eight independent sums keep enough loads in flight (-O3 keeps them in
 * registers); the fastest of seven timings, each of about 0.1 s of passes,
 * is reported. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s KB [KB ...]\n", argv[0]);
        return 2;
    }
    for (int a = 1; a < argc; ++a) {
        const long kb = atol(argv[a]);
        const size_t n = (size_t)kb * 1024 / sizeof(float) / (LANES * SUMS) * (LANES * SUMS);
        float *x = n ? aligned_alloc(64, n * sizeof(float)) : NULL;
        if (!x) {
            fprintf(stderr, "%s: not a size this program can read: %s\n", argv[0], argv[a]);
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
                sink += pass(x, n);
            const double per_pass = (seconds() - start) / (double)passes;
            best = per_pass < best ? per_pass : best;
        }
        printf("%6ld KB: %8.2f us a pass, %6.1f GB/s\n", kb, best * 1e6,
               (double)(n * sizeof(float)) / best * 1e-9);
        free(x);
    }
    return 0;
}
