/* What built this extension, for fastmlp.config(). */
#include "fastmlp.h"

const char *fm_build_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}
