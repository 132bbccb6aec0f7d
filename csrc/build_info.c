/* What built this extension, for fastmlp.config(). */
#include "fastmlp.h"

/* A build whose AVX-512 kernels run on AVX2 (setup.py) says so. */
#ifdef FASTMLP_EMULATE_AVX512
#define FM_BUILD_NOTE " (test build: AVX-512 kernels emulated on AVX2)"
#else
#define FM_BUILD_NOTE ""
#endif

const char *fm_build_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__ FM_BUILD_NOTE;
#elif defined(__GNUC__)
    return "gcc " __VERSION__ FM_BUILD_NOTE;
#else
    return "unknown" FM_BUILD_NOTE;
#endif
}
