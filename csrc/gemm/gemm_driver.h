/* The GEMM framework for one data type, included by gemm.c once per type with
 *   FM_T       float or double
 *   FM_P(x)    prefix for this type's names: s_##x or d_##x
 *   FM_KERNEL  the kernel-table field: sgemm or dgemm
 *   FM_KERNEL_T its type: fm_sgemm_kernel or fm_dgemm_kernel
 *   FM_GEMM    the public name: fm_sgemm or fm_dgemm
 *   FM_GEMM_ROW_THREADS, FM_GEMM_ROW_PART, FM_GEMM_ROW_RANGE
 *              gemm_row.h's names for the type
 *
 * BLIS's loop nest. Around the micro-kernel: jc over nc-column panels of B,
 * pc over kc-deep slices of k, ic over mc-row blocks of A, then the grid of
 * mr x nr tiles of one block. Threads split B packing, A packing and the tile
 * grid, never k, and k is sliced the same way for any thread count, so every
 * C element sees the same sums in the same order: results are bitwise
 * independent of the number of threads.
 *
 * Packing copies operands into the contiguous, aligned panels the
 * micro-kernel streams. It pays off when a panel is reused many times; for the
 * thin shapes of MLP training the kernels read A (any strides) and B (unit
 * column stride) in place instead, see fm_plan_gemm() in gemm.c.
 */

/* C = beta * C, reading C only when beta != 0. */
static void FM_P(scale_c)(ptrdiff_t m, ptrdiff_t n, FM_T beta, FM_T *c, ptrdiff_t rs_c,
                          ptrdiff_t cs_c)
{
    if (beta == 1)
        return;
    for (ptrdiff_t i = 0; i < m; ++i)
        for (ptrdiff_t j = 0; j < n; ++j)
            c[i * rs_c + j * cs_c] = beta == 0 ? 0 : beta * c[i * rs_c + j * cs_c];
}

/* One GEMM call as its paths see it: the problem after planning, and the
 * workspace pieces (packed B panel, packed A block, per-thread edge panels). */
typedef struct {
    const FM_KERNEL_T *kd;
    fm_gemm_plan plan;
    ptrdiff_t m, n, k;
    FM_T alpha, beta;
    const FM_T *a, *b;
    FM_T *c;
    ptrdiff_t rs_a, cs_a, rs_b, cs_b, rs_c, cs_c;
    FM_T *b_packed, *a_packed, *edge;
    size_t edge_elems;
} FM_P(gemm_args);

/* C = A . W^T for few rows: dot products, threads split the columns. */
static void FM_P(gemm_dot)(const void *args)
{
    const FM_P(gemm_args) *g = args;
    ptrdiff_t lo, hi;
    fm_share((g->n + 3) / 4, &lo, &hi);
    lo *= 4, hi = 4 * hi < g->n ? 4 * hi : g->n;
    if (lo < hi)
        g->kd->dot(g->m, hi - lo, g->k, g->a, g->rs_a, g->b + lo * g->cs_b, g->cs_b,
                   g->c + lo * g->cs_c, g->rs_c, g->cs_c, g->alpha, g->beta);
}

/* Blocks [lo, hi) of wide_nr columns of one row, c = alpha a . B + beta c,
 * B's rows contiguous: full blocks by the wide kernel over all of k, a ragged
 * last block by nr-column tiles over kc slices (a partial tile through
 * `edge`, kc x nr elements). */
static void FM_P(row_blocks)(const FM_KERNEL_T *kd, ptrdiff_t n, ptrdiff_t k, ptrdiff_t kc_max,
                             FM_T alpha, const FM_T *a, ptrdiff_t cs_a, const FM_T *b,
                             ptrdiff_t rs_b, FM_T beta, FM_T *c, ptrdiff_t cs_c, ptrdiff_t lo,
                             ptrdiff_t hi, FM_T *edge)
{
    const ptrdiff_t wide = kd->wide_nr, full = n / wide;
    for (ptrdiff_t blk = lo; blk < hi && blk < full; ++blk)
        kd->wide(k, a, 0, cs_a, b + blk * wide, rs_b, c + blk * wide * cs_c, 0, cs_c, wide, alpha,
                 beta);
    if (hi <= full)
        return;
    for (ptrdiff_t pc = 0; pc < k; pc += kc_max) {
        const ptrdiff_t kc = k - pc < kc_max ? k - pc : kc_max;
        const FM_T beta_pc = pc == 0 ? beta : 1;
        for (ptrdiff_t j = full * wide; j < n; j += kd->nr) {
            const ptrdiff_t nb = n - j < kd->nr ? n - j : kd->nr;
            const FM_T *bp = b + pc * rs_b + j;
            ptrdiff_t rs_bp = rs_b;
            if (nb < kd->nr) {
                kd->pack_b(kc, nb, bp, rs_b, 1, edge);
                bp = edge, rs_bp = kd->nr;
            }
            kd->rows[1](kc, a + pc * cs_a, 0, cs_a, bp, rs_bp, c + j * cs_c, 0, cs_c, nb, alpha,
                        beta_pc);
        }
    }
}

/* The wide_nr-column blocks of a row of n columns. */
static ptrdiff_t FM_P(row_block_count)(const FM_KERNEL_T *kd, ptrdiff_t n)
{
    return (n + kd->wide_nr - 1) / kd->wide_nr;
}

/* One row, C = a . B, B's rows contiguous: threads split column blocks of
 * wide_nr. */
static void FM_P(gemm_wide)(const void *args)
{
    const FM_P(gemm_args) *g = args;
    ptrdiff_t lo, hi;
    fm_share(FM_P(row_block_count)(g->kd, g->n), &lo, &hi);
    FM_P(row_blocks)(g->kd, g->n, g->k, g->plan.kc, g->alpha, g->a, g->cs_a, g->b, g->rs_b,
                     g->beta, g->c, g->cs_c, lo, hi, g->edge + g->edge_elems * fm_thread_id());
}

/* One (jc, pc, ic) step of the loop nest: a kc-deep slice of B's nc-column
 * block jc against the row block of A whose first tile is first_tile. */
typedef struct {
    ptrdiff_t jc, nc, kc, first_tile;
    FM_T beta;           /* the caller's for the first slice of k, then 1 */
    const FM_T *a_slice; /* A from the slice's first column */
    const FM_T *b_slice; /* B from the slice's first row and the block's first column */
    int pack_panels;     /* own columns, first row block: each column packs its panel */
} FM_P(gemm_step);

/* Tiles [ir_lo, ir_hi) of the step's column panel jr. */
static void FM_P(column_tiles)(const FM_P(gemm_args) *g, const FM_P(gemm_step) *s, ptrdiff_t jr,
                               ptrdiff_t ir_lo, ptrdiff_t ir_hi, FM_T *edge_b)
{
    const FM_KERNEL_T *const kd = g->kd;
    const fm_gemm_plan *const plan = &g->plan;
    const int mr = kd->mr, nr = kd->nr;
    const ptrdiff_t kc = s->kc, nb = s->nc - jr * nr < nr ? s->nc - jr * nr : nr;
    const FM_T *bp;
    ptrdiff_t rs_bp;
    FM_T *pack_while_multiplying = NULL;
    if (plan->pack_b) {
        FM_T *const panel = g->b_packed + jr * nr * plan->kc;
        bp = panel, rs_bp = nr;
        if (s->pack_panels) {
            /* The first tile packs the panel as it multiplies
             * (pack_b_in_kernel), when it is a full one; or it is packed now. */
            ptrdiff_t i0;
            int mb;
            fm_row_tile(g->m, mr, kd->min_rows, s->first_tile + ir_lo, &i0, &mb);
            if (plan->pack_b_in_kernel && nb == nr && mb == mr)
                pack_while_multiplying = panel;
            else
                kd->pack_b(kc, nb, s->b_slice + jr * nr * g->cs_b, g->rs_b, g->cs_b, panel);
        }
    } else if (nb < nr) {
        kd->pack_b(kc, nb, s->b_slice + jr * nr, g->rs_b, 1, edge_b);
        bp = edge_b, rs_bp = nr;
    } else {
        bp = s->b_slice + jr * nr, rs_bp = g->rs_b;
    }
    for (ptrdiff_t ir = ir_lo; ir < ir_hi; ++ir) {
        ptrdiff_t i0; /* the tile's first row, and its rows */
        int mb;
        fm_row_tile(g->m, mr, kd->min_rows, s->first_tile + ir, &i0, &mb);
        FM_T *const ct = g->c + i0 * g->rs_c + (s->jc + jr * nr) * g->cs_c;
        const FM_T *const at = plan->pack_a ? g->a_packed + ir * mr * kc : s->a_slice + i0 * g->rs_a;
        const ptrdiff_t rs_at = plan->pack_a ? 1 : g->rs_a;
        const ptrdiff_t cs_at = plan->pack_a ? mr : g->cs_a;
        if (pack_while_multiplying) {
            kd->packing(kc, at, rs_at, cs_at, s->b_slice + jr * nr, g->rs_b, ct, g->rs_c, g->cs_c,
                        nb, g->alpha, s->beta, pack_while_multiplying);
            pack_while_multiplying = NULL;
        } else if (plan->pack_a && plan->pack_b && mb == mr) {
            kd->packed(kc, at, 1, mr, bp, nr, ct, g->rs_c, g->cs_c, nb, g->alpha, s->beta);
        } else {
            kd->rows[mb](kc, at, rs_at, cs_at, bp, rs_bp, ct, g->rs_c, g->cs_c, nb, g->alpha,
                         s->beta);
        }
    }
}

/* The blocked loop nest (see the top of this file). */
static void FM_P(gemm_blocked)(const void *args)
{
    const FM_P(gemm_args) *g = args;
    const FM_KERNEL_T *kd = g->kd;
    const fm_gemm_plan *plan = &g->plan;
    const int mr = kd->mr, nr = kd->nr;
    const ptrdiff_t m = g->m, n = g->n, k = g->k, rs_a = g->rs_a, cs_a = g->cs_a;
    const ptrdiff_t rs_b = g->rs_b, cs_b = g->cs_b;
    FM_T *const edge_b = g->edge + g->edge_elems * fm_thread_id();
    const int own_columns = plan->own_columns;
    /* With own columns, the panels of the current column block this thread took. */
    const ptrdiff_t most_panels = ((n < kd->nc ? n : kd->nc) + nr - 1) / nr;
    ptrdiff_t own_panels[own_columns ? most_panels : 1], n_own = 0;

    for (ptrdiff_t jc = 0; jc < n; jc += kd->nc) {
        const ptrdiff_t nc = n - jc < kd->nc ? n - jc : kd->nc;
        const ptrdiff_t n_jr = (nc + nr - 1) / nr;
        for (ptrdiff_t pc = 0; pc < k; pc += plan->kc) {
            FM_P(gemm_step) step = {jc, nc, k - pc < plan->kc ? k - pc : plan->kc, 0,
                                    pc == 0 ? g->beta : 1, g->a + pc * cs_a,
                                    g->b + pc * rs_b + jc * cs_b, 0};
            ptrdiff_t lo, hi;
            if (plan->pack_b && !own_columns) {
                /* Shared panels: all threads pack them before any is read. */
                fm_share(n_jr, &lo, &hi);
                for (ptrdiff_t jr = lo; jr < hi; ++jr) {
                    const ptrdiff_t nb = nc - jr * nr < nr ? nc - jr * nr : nr;
                    kd->pack_b(step.kc, nb, step.b_slice + jr * nr * cs_b, rs_b, cs_b,
                               g->b_packed + jr * nr * plan->kc);
                }
                fm_barrier();
            }
            for (ptrdiff_t ic = 0; ic < m; ic += plan->mc) {
                const ptrdiff_t mc = m - ic < plan->mc ? m - ic : plan->mc;
                const ptrdiff_t n_ir = (mc + mr - 1) / mr;
                step.first_tile = ic / mr;
                step.pack_panels = own_columns && ic == 0;
                if (plan->pack_a) {
                    fm_share(n_ir, &lo, &hi);
                    for (ptrdiff_t ir = lo; ir < hi; ++ir) {
                        ptrdiff_t i0; /* the tile's first row, and its rows */
                        int mb;
                        fm_row_tile(m, mr, kd->min_rows, step.first_tile + ir, &i0, &mb);
                        kd->pack_a(mb, step.kc, step.a_slice + i0 * rs_a, rs_a, cs_a,
                                   g->a_packed + ir * mr * step.kc);
                    }
                    fm_barrier();
                }
                if (!own_columns) {
                    /* An even share of the tile grid, column after column. */
                    fm_share(n_jr * n_ir, &lo, &hi);
                    for (ptrdiff_t t = lo; t < hi;) {
                        const ptrdiff_t jr = t / n_ir;
                        const ptrdiff_t ir_hi = hi - jr * n_ir < n_ir ? hi - jr * n_ir : n_ir;
                        FM_P(column_tiles)(g, &step, jr, t % n_ir, ir_hi, edge_b);
                        t = jr * n_ir + ir_hi;
                    }
                } else if (pc == 0 && ic == 0) {
                    /* Whole columns of tiles: each thread starts on its share
                     * of the panels, then takes those another has yet to
                     * start, and keeps the ones it took for the rest of the
                     * block. A thread on a busy CPU so hands work to the
                     * others, and no panel changes hands between the steps
                     * that pack and reuse it or add to its part of C. */
                    n_own = 0;
                    fm_claim_start(n_jr);
                    for (ptrdiff_t jr; (jr = fm_claim_next()) >= 0;) {
                        own_panels[n_own++] = jr;
                        FM_P(column_tiles)(g, &step, jr, 0, n_ir, edge_b);
                    }
                } else {
                    for (ptrdiff_t i = 0; i < n_own; ++i)
                        FM_P(column_tiles)(g, &step, own_panels[i], 0, n_ir, edge_b);
                }
                if (plan->pack_a || (plan->pack_b && !own_columns)) {
                    /* The shared A block or B panels are refilled next. */
                    fm_barrier();
                }
            }
        }
        /* The next column block shares its panels out afresh: a thread may
         * then pack a panel into the place where another still reads one of
         * this block, or take one before another has stopped taking. (With
         * packed A, the barrier above has waited already.) */
        if (own_columns && !plan->pack_a && jc + kd->nc < n)
            fm_barrier();
    }
}

static fm_gemm_blocking FM_P(blocking)(const FM_KERNEL_T *kd)
{
    return (fm_gemm_blocking){.mr = kd->mr, .nr = kd->nr, .mc = kd->mc, .kc = kd->kc,
                              .kc_strided_a = kd->kc_strided_a, .nc = kd->nc,
                              .wide_nr = kd->wide_nr, .elem_bytes = sizeof(FM_T)};
}

int FM_GEMM_ROW_THREADS(ptrdiff_t n, ptrdiff_t k, int most)
{
    const ptrdiff_t blocks = FM_P(row_block_count)(&fm_kernels()->FM_KERNEL, n);
    const int threads = fm_threads_within((double)n * k, MIN_ROW_ELEMS_PER_THREAD, most);
    return threads < blocks ? threads : (int)blocks;
}

int FM_GEMM_ROW_PART(ptrdiff_t n, ptrdiff_t k, const FM_T *a, const FM_T *b, FM_T *c, int part,
                     int parts, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const FM_KERNEL_T *const kd = &fm_kernels()->FM_KERNEL;
    const fm_gemm_blocking blk = FM_P(blocking)(kd);
    const fm_gemm_plan plan = fm_plan_gemm(&blk, 1, n, k, k, 1, n, 1);
    /* the blocks fm_share gives thread `part` of `parts` in gemm_wide */
    const ptrdiff_t blocks = FM_P(row_block_count)(kd, n);
    const ptrdiff_t first = blocks * part / parts, end = blocks * (part + 1) / parts;
    FM_T *edge = NULL;
    if (end * kd->wide_nr > n && !(edge = fm_workspace_get((size_t)plan.kc * kd->nr * sizeof(FM_T))))
        return -1;
    FM_P(row_blocks)(kd, n, k, plan.kc, 1, a, 1, b, n, 0, c, 1, first, end, edge);
    *lo = first * kd->wide_nr;
    *hi = end * kd->wide_nr < n ? end * kd->wide_nr : n;
    return 0;
}

void FM_GEMM_ROW_RANGE(ptrdiff_t m, int part, int parts, const double *share, ptrdiff_t *lo,
                       ptrdiff_t *hi)
{
    /* Each part long enough for the blocked path (not the dot products of
     * DOT_MAX_ROWS rows or fewer) and for tiles that compute every row alike
     * (fm_row_tile). */
    const int min_rows = fm_kernels()->FM_KERNEL.min_rows;
    const ptrdiff_t least = DOT_MAX_ROWS + 1 > min_rows ? DOT_MAX_ROWS + 1 : min_rows;
    const ptrdiff_t most = m / least;
    if (parts > most) {
        parts = most > 1 ? (int)most : 1;
        share = NULL;
    }
    if (part >= parts) {
        *lo = *hi = m;
        return;
    }
    if (!share) {
        *lo = m * part / parts;
        *hi = m * (part + 1) / parts;
        return;
    }
    /* Part p ends at `share`'s first p + 1 fractions of m, at least `least`
     * rows after it starts and early enough for the parts after it. */
    ptrdiff_t end = 0;
    double upto = 0; /* the fractions of parts 0..p */
    for (int p = 0; p <= part; ++p) {
        *lo = end;
        upto += share[p];
        if (p == parts - 1) {
            end = m;
        } else {
            const ptrdiff_t want = (ptrdiff_t)(upto * (double)m + 0.5);
            const ptrdiff_t latest = m - (parts - 1 - p) * least;
            end = want > *lo + least ? want : *lo + least;
            end = end < latest ? end : latest;
        }
    }
    *hi = end;
}

int FM_GEMM(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, FM_T alpha,
            const FM_T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
            const FM_T *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
            FM_T beta, FM_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0 || alpha == 0) {
        FM_P(scale_c)(m, n, beta, c, rs_c, cs_c);
        return 0;
    }
    if (cs_c != 1 && rs_c == 1) {
        /* Column-major C: compute C^T = B^T A^T, whose rows are contiguous, so
         * the kernels store whole vectors. The plan then follows the
         * transposed shapes (tile heights, k slices), so the last bits may
         * differ from a row-major C's; for either, no thread count changes
         * them. */
        const FM_T *t = a;
        ptrdiff_t s = rs_a, u = cs_a, mm = m;
        a = b, rs_a = cs_b, cs_a = rs_b;
        b = t, rs_b = u, cs_b = s;
        m = n, n = mm;
        rs_c = cs_c, cs_c = 1;
    }

    const FM_KERNEL_T *const kd = &fm_kernels()->FM_KERNEL;
    const fm_gemm_blocking blk = FM_P(blocking)(kd);
    FM_P(gemm_args) g = {kd, fm_plan_gemm(&blk, m, n, k, rs_a, cs_a, rs_b, cs_b), m, n, k, alpha, beta,
                         a, b, c, rs_a, cs_a, rs_b, cs_b, rs_c, cs_c, NULL, NULL, NULL, 0};
    if (g.plan.path == FM_GEMM_DOT) {
        fm_parallel(FM_P(gemm_dot), &g, g.plan.threads);
        return 0;
    }

    /* One allocation: shared packed B panel, shared packed A block, and a
     * per-thread panel for B's ragged last nr columns when B is read in place. */
    const ptrdiff_t nc_max = n < kd->nc ? n : kd->nc;
    const size_t b_elems = g.plan.pack_b ? (size_t)g.plan.kc * fm_round_up(nc_max, kd->nr) : 0;
    const size_t a_elems = g.plan.pack_a ? (size_t)g.plan.kc * fm_round_up(g.plan.mc, kd->mr) : 0;
    g.edge_elems = g.plan.pack_b ? 0 : (size_t)g.plan.kc * kd->nr;
    FM_T *ws = fm_workspace_get((b_elems + a_elems + g.edge_elems * g.plan.threads) * sizeof(FM_T));
    if (!ws)
        return -1;
    g.b_packed = ws, g.a_packed = ws + b_elems, g.edge = ws + b_elems + a_elems;
    fm_parallel(g.plan.path == FM_GEMM_WIDE ? FM_P(gemm_wide) : FM_P(gemm_blocked), &g,
                g.plan.threads);
    return 0;
}
