/* GEMM micro-kernel template, included by each ISA's kernel file.
 *
 * The includer defines, for one data type and vector width:
 *   UKR_T, UKR_V          element and vector types; UKR_VLEN lanes per vector
 *   UKR_MR, UKR_NV        tile of UKR_MR rows x (UKR_NV * UKR_VLEN) columns
 *   UKR_LOAD(p), UKR_STORE(p, v), UKR_BCAST(x), UKR_ZERO()
 *   UKR_LOAD_FIRST(p, count)  lanes 0..count-1 from p (0 < count < UKR_VLEN),
 *                         zeros above, reading nothing past p[count - 1]
 *   UKR_FMA(a, b, c)      a*b + c; fused where the ISA has FMA
 *   UKR_MUL(a, b), UKR_ADD(a, b)
 *   UKR_TRANSPOSE(s, ss, d, ds), UKR_TT  optional: d[c*ds + r] = s[r*ss + c] for
 *                         r, c < UKR_TT, in registers (UKR_TT divides 64 bytes)
 *   UKR_NAME              e.g. fm_sgemm_avx2_6x16
 *   UKR_KERNEL_T          the descriptor type (fm_sgemm_kernel / fm_dgemm_kernel)
 * and gets `static void UKR_NAME_register(UKR_KERNEL_T *)` that fills the
 * descriptor's rows[1..UKR_MR] with kernels for 1..UKR_MR rows, its `packed`
 * and `packing` kernels, its one-row `wide` kernel, its dot-product kernel,
 * its panel packers and its tile size.
 *
 * The tile is held in UKR_MR * UKR_NV vector registers: each step of k loads
 * UKR_NV vectors of B, broadcasts one A element per row and issues one FMA
 * per accumulator. In a tile of at least UKR_MIN_ROWS rows every C element
 * is one FMA chain over k in order, and the write-back is alpha*acc
 * (+ beta*c) with separate roundings on both the vector path and the scalar
 * edge path, so such a tile computes the same bits whether it is full, an
 * edge, or rows of a shorter kernel. Shorter tiles split k (UKR_KSPLIT
 * below), and their bits differ.
 */
#define UKR_CAT_(a, b) a##b
#define UKR_CAT(a, b) UKR_CAT_(a, b)
#define UKR_NR (UKR_NV * UKR_VLEN)

/* Independent accumulator sets that split k (p mod UKR_KSPLIT) for a tile of
 * m rows x nv vectors: with fewer than UKR_CHAINS FMA chains (8 unless the
 * includer says otherwise) the FMA latency is not hidden. The sets are added
 * in a fixed order at the end. A tile of at least UKR_MIN_ROWS rows keeps one
 * chain per element; the driver never cuts a tile shorter than that out of
 * a product of more rows (fm_row_tile), so such a product computes each row
 * the same way wherever its row tiles fall. */
#ifndef UKR_CHAINS
#define UKR_CHAINS 8
#endif
#define UKR_KSPLIT(m, nv) ((m) * (nv) >= UKR_CHAINS ? 1 : UKR_CHAINS / ((m) * (nv)))
#define UKR_MIN_ROWS (UKR_CHAINS / 2 / UKR_NV + 1)
_Static_assert(UKR_KSPLIT(UKR_MIN_ROWS, UKR_NV) == 1 && UKR_KSPLIT(UKR_MIN_ROWS - 1, UKR_NV) > 1,
               "UKR_MIN_ROWS: the fewest rows a tile computes with one chain per element");
_Static_assert(2 * UKR_MIN_ROWS - 1 <= UKR_MR,
               "a full tile and a shorter remainder must split into two tiles of UKR_MIN_ROWS");
/* The one-row kernel for C = a . B spans this many vectors (4 panels), so it
 * streams 4 cache lines of each row of B instead of 1. */
#define UKR_WIDE_NV (4 * UKR_NV)
#define UKR_LINE_V (64 / (int)sizeof(UKR_V) > 0 ? 64 / (int)sizeof(UKR_V) : 1)
#ifndef UKR_PF_ROWS
#define UKR_PF_ROWS 8
#endif

/* The kernel body for a tile of `mrows` rows x `nv` vectors; both are
 * constants at every call, so the loops unroll and acc lives in registers.
 * A non-NULL b_copy receives each row of B as it is loaded (nv vectors per
 * step of k, contiguous).
 * (GCC 12 cannot see that the edge path reads only the `tile` elements it
 * stored, j < n <= ncols, and warns on the one-row kernels.) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static inline __attribute__((always_inline)) void
UKR_CAT(UKR_NAME, _body)(const int mrows, const int nv, ptrdiff_t k,
                         const UKR_T *restrict a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                         const UKR_T *restrict b, ptrdiff_t rs_b,
                         UKR_T *restrict c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                         ptrdiff_t n, UKR_T alpha, UKR_T beta, UKR_T *restrict b_copy)
{
    enum { KS = UKR_KSPLIT(1, UKR_NV), ACC = UKR_MR * UKR_NV };
    const int ks = UKR_KSPLIT(mrows, nv), ncols = nv * UKR_VLEN;
    UKR_V acc[KS][ACC]; /* acc[s][i*nv + v]; mrows * nv <= ACC */
    for (int s = 0; s < ks; ++s)
        for (int x = 0; x < mrows * nv; ++x)
            acc[s][x] = UKR_ZERO();
    for (int i = 0; i < mrows; ++i) {
        /* C is touched only after the k loop; start fetching it now. */
        __builtin_prefetch(c + i * rs_c, 1);
        __builtin_prefetch(c + i * rs_c + (ncols - 1) * cs_c, 1);
    }

#define UKR_STEP(s)                                                          \
    do {                                                                     \
        UKR_V bv[UKR_WIDE_NV];                                               \
        for (int v = 0; v < nv; ++v)                                         \
            bv[v] = UKR_LOAD(b + v * UKR_VLEN);                              \
        if (b_copy) {                                                        \
            for (int v = 0; v < nv; ++v)                                     \
                UKR_STORE(b_copy + v * UKR_VLEN, bv[v]);                     \
            b_copy += nv * UKR_VLEN;                                         \
        }                                                                    \
        if (nv == UKR_WIDE_NV)                                               \
            for (int v = 0; v < nv; v += UKR_LINE_V)                         \
                __builtin_prefetch(b + UKR_PF_ROWS * rs_b + v * UKR_VLEN);   \
        for (int i = 0; i < mrows; ++i) {                                    \
            const UKR_V ai = UKR_BCAST(a[i * rs_a]);                         \
            for (int v = 0; v < nv; ++v)                                     \
                acc[s][i * nv + v] = UKR_FMA(ai, bv[v], acc[s][i * nv + v]); \
        }                                                                    \
        a += cs_a;                                                           \
        b += rs_b;                                                           \
    } while (0)

    ptrdiff_t p = 0;
    if (ks == 1) {
#pragma GCC unroll 4
        for (; p < k; ++p)
            UKR_STEP(0);
    } else {
        for (; p + ks <= k; p += ks)
            for (int s = 0; s < ks; ++s)
                UKR_STEP(s);
        for (int s = 0; p < k; ++p, ++s)
            UKR_STEP(s);
        for (int s = 1; s < ks; ++s)
            for (int x = 0; x < mrows * nv; ++x)
                acc[0][x] = UKR_ADD(acc[0][x], acc[s][x]);
    }
#undef UKR_STEP

    if (n == ncols && cs_c == 1) {
        const UKR_V va = UKR_BCAST(alpha), vb = UKR_BCAST(beta);
        for (int i = 0; i < mrows; ++i)
            for (int v = 0; v < nv; ++v) {
                UKR_T *cp = c + i * rs_c + v * UKR_VLEN;
                UKR_V r = UKR_MUL(va, acc[0][i * nv + v]);
                if (beta != 0)
                    r = UKR_ADD(r, UKR_MUL(vb, UKR_LOAD(cp)));
                UKR_STORE(cp, r);
            }
        return;
    }
    /* Edge column panel or strided C: spill the tile, write element-wise. */
    UKR_T tile[ACC * UKR_VLEN] __attribute__((aligned(64)));
    for (int x = 0; x < mrows * nv; ++x)
        UKR_STORE(tile + x * UKR_VLEN, acc[0][x]);
    for (int i = 0; i < mrows; ++i)
        for (ptrdiff_t j = 0; j < n; ++j) {
            UKR_T *cp = c + i * rs_c + j * cs_c;
            UKR_T r = alpha * tile[i * ncols + j];
            if (beta != 0)
                r = r + beta * *cp;
            *cp = r;
        }
}
#pragma GCC diagnostic pop

#define UKR_ROWS(M)                                                                    \
    static void UKR_CAT(UKR_NAME, _m##M)(ptrdiff_t k, const UKR_T *a, ptrdiff_t rs_a,  \
                                         ptrdiff_t cs_a, const UKR_T *b, ptrdiff_t rs_b, \
                                         UKR_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,       \
                                         ptrdiff_t n, UKR_T alpha, UKR_T beta)           \
    {                                                                                  \
        UKR_CAT(UKR_NAME, _body)(M, UKR_NV, k, a, rs_a, cs_a, b, rs_b, c, rs_c, cs_c, n,\
                                 alpha, beta, NULL);                                   \
    }

#if UKR_MR > FM_MAX_MR
#error "gemm_ukernel.h: UKR_MR above FM_MAX_MR (16) needs more UKR_ROWS lines"
#endif
UKR_ROWS(1)
#if UKR_MR >= 2
UKR_ROWS(2)
#endif
#if UKR_MR >= 3
UKR_ROWS(3)
#endif
#if UKR_MR >= 4
UKR_ROWS(4)
#endif
#if UKR_MR >= 5
UKR_ROWS(5)
#endif
#if UKR_MR >= 6
UKR_ROWS(6)
#endif
#if UKR_MR >= 7
UKR_ROWS(7)
#endif
#if UKR_MR >= 8
UKR_ROWS(8)
#endif
#if UKR_MR >= 9
UKR_ROWS(9)
#endif
#if UKR_MR >= 10
UKR_ROWS(10)
#endif
#if UKR_MR >= 11
UKR_ROWS(11)
#endif
#if UKR_MR >= 12
UKR_ROWS(12)
#endif
#if UKR_MR >= 13
UKR_ROWS(13)
#endif
#if UKR_MR >= 14
UKR_ROWS(14)
#endif
#if UKR_MR >= 15
UKR_ROWS(15)
#endif
#if UKR_MR >= 16
UKR_ROWS(16)
#endif

/* C[i, j] = alpha * sum_p A[i, p] B[p, j] (+ beta * C[i, j]) for i < m, j < n,
 * with A's rows and B's columns contiguous in p (cs_a == 1, rs_b == 1): the
 * layout of dX = dY . W^T, read in place with no packing. Each element is
 * summed in VLEN lanes over two alternating accumulators, then the lanes in
 * order, then the k % VLEN tail: one fixed order. Four columns at a time
 * share each load of A's row. */
static void UKR_CAT(UKR_NAME, _dot)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                    const UKR_T *restrict a, ptrdiff_t rs_a,
                                    const UKR_T *restrict b, ptrdiff_t cs_b,
                                    UKR_T *restrict c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                    UKR_T alpha, UKR_T beta)
{
    enum { COLS = 4 };
    const ptrdiff_t kv = k - k % UKR_VLEN;
    for (ptrdiff_t i = 0; i < m; ++i) {
        const UKR_T *ai = a + i * rs_a;
        for (ptrdiff_t j0 = 0; j0 < n; j0 += COLS) {
            const int cols = n - j0 < COLS ? (int)(n - j0) : COLS;
            const UKR_T *bj[COLS];
            for (int j = 0; j < COLS; ++j) /* a short group repeats its last column */
                bj[j] = b + (j0 + (j < cols ? j : cols - 1)) * cs_b;
            UKR_V acc[2][COLS];
            for (int j = 0; j < COLS; ++j)
                acc[0][j] = acc[1][j] = UKR_ZERO();
            ptrdiff_t p = 0;
            for (; p + 2 * UKR_VLEN <= kv; p += 2 * UKR_VLEN)
                for (int h = 0; h < 2; ++h) {
                    const UKR_V av = UKR_LOAD(ai + p + h * UKR_VLEN);
                    for (int j = 0; j < COLS; ++j)
                        acc[h][j] = UKR_FMA(av, UKR_LOAD(bj[j] + p + h * UKR_VLEN), acc[h][j]);
                }
            if (p < kv) {
                const UKR_V av = UKR_LOAD(ai + p);
                for (int j = 0; j < COLS; ++j)
                    acc[0][j] = UKR_FMA(av, UKR_LOAD(bj[j] + p), acc[0][j]);
            }
            for (int j = 0; j < cols; ++j) {
                UKR_T lanes[UKR_VLEN];
                UKR_STORE(lanes, UKR_ADD(acc[0][j], acc[1][j]));
                UKR_T sum = 0;
                for (int l = 0; l < UKR_VLEN; ++l)
                    sum = sum + lanes[l];
                for (ptrdiff_t q = kv; q < k; ++q)
                    sum = sum + ai[q] * bj[j][q];
                UKR_T *cp = c + i * rs_c + (j0 + j) * cs_c;
                UKR_T r = alpha * sum;
                if (beta != 0)
                    r = r + beta * *cp;
                *cp = r;
            }
        }
    }
}

/* dst[p*width + i] = src[i*si + p*sp] for i < rows, p < k: the transposing
 * copy behind both packers. Where p is src's contiguous direction and the
 * ISA has a tile transpose, whole tiles go through registers, a cache line
 * of p at a time down all rows: a 32-column panel of B = W^T copied element
 * by element reads 32 streams 4 KB apart, more than L1 has ways, fetches
 * every line up to 16 times and took about 7 times as long. The rest goes
 * element by element, p outer, so the stores are contiguous. */
static inline __attribute__((always_inline)) void
UKR_CAT(UKR_NAME, _panel_copy)(ptrdiff_t k, ptrdiff_t rows, const UKR_T *restrict src,
                               ptrdiff_t si, ptrdiff_t sp, UKR_T *restrict dst, int width)
{
    ptrdiff_t p = 0;
#ifdef UKR_TRANSPOSE
    enum { LINE = 64 / sizeof(UKR_T) };
    if (sp == 1) {
        const ptrdiff_t rows_t = rows - rows % UKR_TT, kt = k - k % UKR_TT;
        for (; p < kt; p += LINE) {
            const ptrdiff_t p1 = p + LINE < kt ? p + LINE : kt;
            for (ptrdiff_t i = 0; i < rows_t; i += UKR_TT)
                for (ptrdiff_t q = p; q < p1; q += UKR_TT)
                    UKR_TRANSPOSE(src + i * si + q, si, dst + q * width + i, width);
            for (ptrdiff_t q = p; q < p1; ++q)
                for (ptrdiff_t i = rows_t; i < rows; ++i)
                    dst[q * width + i] = src[i * si + q];
        }
        p = kt;
    }
#endif
    for (; p < k; ++p)
        for (ptrdiff_t i = 0; i < rows; ++i)
            dst[p * width + i] = src[i * si + p * sp];
}

/* One UKR_MR-row micro-panel of A: ap[p*MR + i] = A[i, p] for i < m, p < k. */
static void UKR_CAT(UKR_NAME, _pack_a)(ptrdiff_t m, ptrdiff_t k, const UKR_T *restrict a,
                                       ptrdiff_t rs_a, ptrdiff_t cs_a, UKR_T *restrict ap)
{
    if (m == UKR_MR) /* a constant trip count: unrolled */
        UKR_CAT(UKR_NAME, _panel_copy)(k, UKR_MR, a, rs_a, cs_a, ap, UKR_MR);
    else
        UKR_CAT(UKR_NAME, _panel_copy)(k, m, a, rs_a, cs_a, ap, UKR_MR);
}

/* One UKR_NR-column micro-panel of B, zero-padded to UKR_NR columns:
 * bp[p*NR + j] = B[p, j] for j < n, 0 for n <= j < NR. */
static void UKR_CAT(UKR_NAME, _pack_b)(ptrdiff_t k, ptrdiff_t n, const UKR_T *restrict b,
                                       ptrdiff_t rs_b, ptrdiff_t cs_b, UKR_T *restrict bp)
{
    if (n == UKR_NR && cs_b == 1) { /* whole rows: vector copies */
        for (ptrdiff_t p = 0; p < k; ++p)
            for (int v = 0; v < UKR_NV; ++v)
                UKR_STORE(bp + p * UKR_NR + v * UKR_VLEN, UKR_LOAD(b + p * rs_b + v * UKR_VLEN));
        return;
    }
    if (n == UKR_NR) { /* columns of B strided (B = W^T, columns contiguous) */
        UKR_CAT(UKR_NAME, _panel_copy)(k, UKR_NR, b, cs_b, rs_b, bp, UKR_NR);
        return;
    }
    if (cs_b == 1) { /* a ragged panel: whole vectors, a partial one, zeros */
        for (ptrdiff_t p = 0; p < k; ++p)
            for (int v = 0; v < UKR_NV; ++v) {
                const ptrdiff_t left = n - v * UKR_VLEN;
                const UKR_T *const src = b + p * rs_b + v * UKR_VLEN;
                UKR_STORE(bp + p * UKR_NR + v * UKR_VLEN,
                          left >= UKR_VLEN ? UKR_LOAD(src)
                          : left > 0       ? UKR_LOAD_FIRST(src, (int)left)
                                           : UKR_ZERO());
            }
        return;
    }
    UKR_CAT(UKR_NAME, _panel_copy)(k, n, b, cs_b, rs_b, bp, UKR_NR);
    for (ptrdiff_t p = 0; p < k; ++p)
        for (ptrdiff_t j = n; j < UKR_NR; ++j)
            bp[p * UKR_NR + j] = 0;
}

/* Full tile over packed panels: A strides (1, MR) and B stride NR are
 * constants here, which frees the registers the general kernel spends on them. */
static void UKR_CAT(UKR_NAME, _packed)(ptrdiff_t k, const UKR_T *a, ptrdiff_t rs_a,
                                       ptrdiff_t cs_a, const UKR_T *b, ptrdiff_t rs_b,
                                       UKR_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                       ptrdiff_t n, UKR_T alpha, UKR_T beta)
{
    (void)rs_a, (void)cs_a, (void)rs_b;
    UKR_CAT(UKR_NAME, _body)(UKR_MR, UKR_NV, k, a, 1, UKR_MR, b, UKR_NR, c, rs_c, cs_c, n,
                             alpha, beta, NULL);
}

/* A full tile, B read in place (UKR_NR whole columns), that also leaves the
 * micro-panel of B it streamed packed in bp, as _pack_b would: the first
 * tile down a column panel packs it for the rest at no extra pass over B. */
static void UKR_CAT(UKR_NAME, _packing)(ptrdiff_t k, const UKR_T *a, ptrdiff_t rs_a,
                                        ptrdiff_t cs_a, const UKR_T *b, ptrdiff_t rs_b,
                                        UKR_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                        ptrdiff_t n, UKR_T alpha, UKR_T beta, UKR_T *bp)
{
    UKR_CAT(UKR_NAME, _body)(UKR_MR, UKR_NV, k, a, rs_a, cs_a, b, rs_b, c, rs_c, cs_c, n,
                             alpha, beta, bp);
}

/* One row of C over UKR_WIDE_NV vectors of columns: C = a . B for m == 1,
 * where no row of B is reused and the cost is streaming B. */
static void UKR_CAT(UKR_NAME, _wide)(ptrdiff_t k, const UKR_T *a, ptrdiff_t rs_a,
                                     ptrdiff_t cs_a, const UKR_T *b, ptrdiff_t rs_b,
                                     UKR_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                     ptrdiff_t n, UKR_T alpha, UKR_T beta)
{
    UKR_CAT(UKR_NAME, _body)(1, UKR_WIDE_NV, k, a, rs_a, cs_a, b, rs_b, c, rs_c, cs_c, n,
                             alpha, beta, NULL);
}

static void UKR_CAT(UKR_NAME, _register)(UKR_KERNEL_T *kd)
{
    kd->packed = UKR_CAT(UKR_NAME, _packed);
    kd->packing = UKR_CAT(UKR_NAME, _packing);
    kd->pack_a = UKR_CAT(UKR_NAME, _pack_a);
    kd->pack_b = UKR_CAT(UKR_NAME, _pack_b);
    kd->dot = UKR_CAT(UKR_NAME, _dot);
    kd->wide = UKR_CAT(UKR_NAME, _wide);
    kd->wide_nr = UKR_WIDE_NV * UKR_VLEN;
#define UKR_SLOT(M) kd->rows[M] = UKR_CAT(UKR_NAME, _m##M);
    UKR_SLOT(1)
#if UKR_MR >= 2
    UKR_SLOT(2)
#endif
#if UKR_MR >= 3
    UKR_SLOT(3)
#endif
#if UKR_MR >= 4
    UKR_SLOT(4)
#endif
#if UKR_MR >= 5
    UKR_SLOT(5)
#endif
#if UKR_MR >= 6
    UKR_SLOT(6)
#endif
#if UKR_MR >= 7
    UKR_SLOT(7)
#endif
#if UKR_MR >= 8
    UKR_SLOT(8)
#endif
#if UKR_MR >= 9
    UKR_SLOT(9)
#endif
#if UKR_MR >= 10
    UKR_SLOT(10)
#endif
#if UKR_MR >= 11
    UKR_SLOT(11)
#endif
#if UKR_MR >= 12
    UKR_SLOT(12)
#endif
#if UKR_MR >= 13
    UKR_SLOT(13)
#endif
#if UKR_MR >= 14
    UKR_SLOT(14)
#endif
#if UKR_MR >= 15
    UKR_SLOT(15)
#endif
#if UKR_MR >= 16
    UKR_SLOT(16)
#endif
#undef UKR_SLOT
    kd->mr = UKR_MR;
    kd->nr = UKR_NR;
    kd->min_rows = UKR_MIN_ROWS;
}

#undef UKR_ROWS
#undef UKR_KSPLIT
#undef UKR_CHAINS
#undef UKR_MIN_ROWS
#undef UKR_WIDE_NV
#undef UKR_NR
#undef UKR_T
#undef UKR_V
#undef UKR_VLEN
#undef UKR_MR
#undef UKR_NV
#undef UKR_LOAD
#undef UKR_LOAD_FIRST
#undef UKR_STORE
#undef UKR_BCAST
#undef UKR_ZERO
#undef UKR_FMA
#undef UKR_MUL
#undef UKR_ADD
#undef UKR_NAME
#undef UKR_KERNEL_T
#undef UKR_TRANSPOSE
#undef UKR_TT
#undef UKR_LINE_V
#undef UKR_PF_ROWS
#undef UKR_CAT
#undef UKR_CAT_
