/* Which instruction sets this CPU *and* OS can run.
 *
 * CPUID says what the CPU has; XGETBV says whether the OS saves the wider
 * registers on a context switch. Both must agree before a kernel may use
 * ymm (AVX2) or zmm/opmask (AVX-512) registers. */
#include "arch/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdint.h>

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define XCR0_SSE_AVX 0x06u      /* xmm + ymm state */
#define XCR0_AVX512 0xe0u       /* opmask + zmm0-15 upper + zmm16-31 */

fm_cpu_features fm_cpu_detect(void)
{
    fm_cpu_features f = {0, 0};
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return f;
    const int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, fma = (ecx >> 12) & 1;
    if (!osxsave || !avx)
        return f;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_SSE_AVX) != XCR0_SSE_AVX)
        return f;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return f;
    f.avx2_fma = fma && ((ebx >> 5) & 1);
    f.avx512f = f.avx2_fma && ((ebx >> 16) & 1) && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
    return f;
}

#else

fm_cpu_features fm_cpu_detect(void)
{
    fm_cpu_features f = {0, 0};
    return f;
}

#endif
