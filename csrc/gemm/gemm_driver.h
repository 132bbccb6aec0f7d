/* The GEMM framework for one data type, included by gemm.c once per type with
 *   FM_T       float or double
 *   FM_P(x)    prefix for this type's names: s_##x or d_##x
 *   FM_KERNEL  the kernel-table field: sgemm or dgemm
 *   FM_KERNEL_T its type: fm_sgemm_kernel or fm_dgemm_kernel
 *   FM_GEMM    the public name: fm_sgemm or fm_dgemm
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
 * column stride) in place instead, see plan_gemm().
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

/* This thread's share [*lo, *hi) of `count` items split evenly over the team. */
static inline void FM_P(share)(ptrdiff_t count, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const int t = fm_thread_id(), nt = fm_team_size();
    *lo = count * t / nt;
    *hi = count * (t + 1) / nt;
}

/* C = A . W^T for few rows: dot products, threads split the columns. */
static void FM_P(gemm_dot)(const FM_KERNEL_T *kd, int threads, ptrdiff_t m, ptrdiff_t n,
                           ptrdiff_t k, FM_T alpha, const FM_T *a, ptrdiff_t rs_a,
                           const FM_T *b, ptrdiff_t cs_b, FM_T beta, FM_T *c, ptrdiff_t rs_c,
                           ptrdiff_t cs_c)
{
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        ptrdiff_t lo, hi;
        FM_P(share)((n + 3) / 4, &lo, &hi);
        lo *= 4, hi = 4 * hi < n ? 4 * hi : n;
        if (lo < hi)
            kd->dot(m, hi - lo, k, a, rs_a, b + lo * cs_b, cs_b, c + lo * cs_c, rs_c, cs_c,
                    alpha, beta);
    }
}

/* One row, C = a . B, B's rows contiguous: threads split column blocks of
 * wide_nr; a ragged last block goes by nr-column tiles over kc_step slices.
 * `edge` holds kc_step x nr elements. */
static void FM_P(gemm_wide)(const FM_KERNEL_T *kd, int threads, ptrdiff_t kc_step,
                            ptrdiff_t n, ptrdiff_t k, FM_T alpha, const FM_T *a, ptrdiff_t cs_a,
                            const FM_T *b, ptrdiff_t rs_b, FM_T beta, FM_T *c, ptrdiff_t cs_c,
                            FM_T *edge)
{
    const ptrdiff_t wide = kd->wide_nr, full = n / wide;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        ptrdiff_t lo, hi;
        FM_P(share)((n + wide - 1) / wide, &lo, &hi);
        for (ptrdiff_t blk = lo; blk < hi && blk < full; ++blk)
            kd->wide(k, a, 0, cs_a, b + blk * wide, rs_b, c + blk * wide * cs_c, 0, cs_c, wide,
                     alpha, beta);
        if (hi > full) { /* this thread has the ragged last block */
            for (ptrdiff_t pc = 0; pc < k; pc += kc_step) {
                const ptrdiff_t kc = k - pc < kc_step ? k - pc : kc_step;
                const FM_T beta_pc = pc == 0 ? beta : 1;
                for (ptrdiff_t j = full * wide; j < n; j += kd->nr) {
                    const ptrdiff_t nb = n - j < kd->nr ? n - j : kd->nr;
                    const FM_T *bp = b + pc * rs_b + j;
                    ptrdiff_t rs_bp = rs_b;
                    if (nb < kd->nr) {
                        kd->pack_b(kc, nb, bp, rs_b, 1, edge);
                        bp = edge, rs_bp = kd->nr;
                    }
                    kd->rows[1](kc, a + pc * cs_a, 0, cs_a, bp, rs_bp, c + j * cs_c, 0, cs_c, nb,
                                alpha, beta_pc);
                }
            }
        }
    }
}

/* The blocked loop nest (see the top of this file). */
static void FM_P(gemm_blocked)(const FM_KERNEL_T *kd, const fm_gemm_plan *plan, ptrdiff_t m,
                               ptrdiff_t n, ptrdiff_t k, FM_T alpha, const FM_T *a,
                               ptrdiff_t rs_a, ptrdiff_t cs_a, const FM_T *b, ptrdiff_t rs_b,
                               ptrdiff_t cs_b, FM_T beta, FM_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                               FM_T *b_packed, FM_T *a_packed, FM_T *edge_base,
                               size_t edge_elems)
{
    const int mr = kd->mr, nr = kd->nr;
#pragma omp parallel num_threads(plan->threads) if (plan->threads > 1)
    {
        FM_T *const edge_b = edge_base + edge_elems * fm_thread_id();

        for (ptrdiff_t jc = 0; jc < n; jc += kd->nc) {
            const ptrdiff_t nc = n - jc < kd->nc ? n - jc : kd->nc;
            const ptrdiff_t n_jr = (nc + nr - 1) / nr;
            for (ptrdiff_t pc = 0; pc < k; pc += plan->kc) {
                const ptrdiff_t kc = k - pc < plan->kc ? k - pc : plan->kc;
                const FM_T beta_pc = pc == 0 ? beta : 1;
                const FM_T *const b_slice = b + pc * rs_b + jc * cs_b;
                ptrdiff_t lo, hi;
                if (plan->pack_b) {
                    FM_P(share)(n_jr, &lo, &hi);
                    for (ptrdiff_t jr = lo; jr < hi; ++jr) {
                        const ptrdiff_t nb = nc - jr * nr < nr ? nc - jr * nr : nr;
                        kd->pack_b(kc, nb, b_slice + jr * nr * cs_b, rs_b, cs_b,
                                   b_packed + jr * nr * kc);
                    }
#pragma omp barrier
                }
                for (ptrdiff_t ic = 0; ic < m; ic += plan->mc) {
                    const ptrdiff_t mc = m - ic < plan->mc ? m - ic : plan->mc;
                    const ptrdiff_t n_ir = (mc + mr - 1) / mr;
                    const FM_T *const a_block = a + ic * rs_a + pc * cs_a;
                    if (plan->pack_a) {
                        FM_P(share)(n_ir, &lo, &hi);
                        for (ptrdiff_t ir = lo; ir < hi; ++ir) {
                            const ptrdiff_t mb = mc - ir * mr < mr ? mc - ir * mr : mr;
                            kd->pack_a(mb, kc, a_block + ir * mr * rs_a, rs_a, cs_a,
                                       a_packed + ir * mr * kc);
                        }
#pragma omp barrier
                    }
                    /* The tile grid, column of tiles by column of tiles, so a
                     * thread reuses each B micro-panel down its column. */
                    FM_P(share)(n_jr * n_ir, &lo, &hi);
                    ptrdiff_t prepared_jr = -1;
                    const FM_T *bp = 0;
                    ptrdiff_t rs_bp = 0;
                    for (ptrdiff_t t = lo; t < hi; ++t) {
                        const ptrdiff_t jr = t / n_ir, ir = t % n_ir;
                        const ptrdiff_t nb = nc - jr * nr < nr ? nc - jr * nr : nr;
                        const ptrdiff_t mb = mc - ir * mr < mr ? mc - ir * mr : mr;
                        if (jr != prepared_jr) {
                            prepared_jr = jr;
                            if (plan->pack_b) {
                                bp = b_packed + jr * nr * kc, rs_bp = nr;
                            } else if (nb < nr) {
                                kd->pack_b(kc, nb, b_slice + jr * nr, rs_b, 1, edge_b);
                                bp = edge_b, rs_bp = nr;
                            } else {
                                bp = b_slice + jr * nr, rs_bp = rs_b;
                            }
                        }
                        FM_T *const ct = c + (ic + ir * mr) * rs_c + (jc + jr * nr) * cs_c;
                        if (plan->pack_a) {
                            const FM_T *ap = a_packed + ir * mr * kc;
                            if (mb == mr && plan->pack_b)
                                kd->packed(kc, ap, 1, mr, bp, nr, ct, rs_c, cs_c, nb, alpha, beta_pc);
                            else
                                kd->rows[mb](kc, ap, 1, mr, bp, rs_bp, ct, rs_c, cs_c, nb, alpha,
                                             beta_pc);
                        } else {
                            kd->rows[mb](kc, a_block + ir * mr * rs_a, rs_a, cs_a, bp, rs_bp, ct,
                                         rs_c, cs_c, nb, alpha, beta_pc);
                        }
                    }
                    if (plan->pack_a || plan->pack_b) {
                        /* The packed A block or B panel is refilled next. */
#pragma omp barrier
                    }
                }
            }
        }
    }
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
         * the kernels store whole vectors. Products commute exactly, so this
         * changes no bit of the result. */
        const FM_T *t = a;
        ptrdiff_t s = rs_a, u = cs_a, mm = m;
        a = b, rs_a = cs_b, cs_a = rs_b;
        b = t, rs_b = u, cs_b = s;
        m = n, n = mm;
        rs_c = cs_c, cs_c = 1;
    }

    const FM_KERNEL_T *const kd = &fm_kernels()->FM_KERNEL;
    const fm_gemm_blocking blk = {kd->mr, kd->nr, kd->mc, kd->kc, kd->nc, kd->wide_nr};
    const fm_gemm_plan plan = fm_plan_gemm(&blk, m, n, k, cs_a, rs_b, cs_b);
    if (plan.path == FM_GEMM_DOT) {
        FM_P(gemm_dot)(kd, plan.threads, m, n, k, alpha, a, rs_a, b, cs_b, beta, c, rs_c, cs_c);
        return 0;
    }

    /* One allocation: shared packed B panel, shared packed A block, and a
     * per-thread panel for B's ragged last nr columns when B is read in place. */
    const ptrdiff_t kc_max = plan.kc, mc_max = plan.mc, nc_max = n < kd->nc ? n : kd->nc;
    const size_t b_elems = plan.pack_b ? (size_t)kc_max * fm_round_up(nc_max, kd->nr) : 0;
    const size_t a_elems = plan.pack_a ? (size_t)kc_max * fm_round_up(mc_max, kd->mr) : 0;
    const size_t edge_elems = plan.pack_b ? 0 : (size_t)kc_max * kd->nr;
    FM_T *ws = fm_workspace_alloc((b_elems + a_elems + edge_elems * plan.threads) * sizeof(FM_T));
    if (!ws)
        return -1;
    if (plan.path == FM_GEMM_WIDE)
        FM_P(gemm_wide)(kd, plan.threads, plan.kc, n, k, alpha, a, cs_a, b, rs_b, beta, c, cs_c,
                        ws);
    else
        FM_P(gemm_blocked)(kd, &plan, m, n, k, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c,
                           rs_c, cs_c, ws, ws + b_elems, ws + b_elems + a_elems, edge_elems);
    fm_workspace_free(ws);
    return 0;
}
