/* Input checks the bindings run once at the boundary. */
#include <stdint.h>
#include <string.h>

#include "fastmlp.h"

/* NaN and infinity are the values whose exponent bits are all ones. The test
 * works on the bits as integers, so GCC vectorises it as an OR-reduction
 * (a floating-point sum would need reassociation). */
int fm_s_all_finite(const float *x, ptrdiff_t n)
{
    uint32_t bad = 0;
    for (ptrdiff_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

int fm_d_all_finite(const double *x, ptrdiff_t n)
{
    uint64_t bad = 0;
    for (ptrdiff_t i = 0; i < n; ++i) {
        uint64_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
    }
    return !bad;
}
