/* lmteam.h: one language-model training step computed by a team: the rows of a batch split
 * over MPI ranks (par.h) and, inside each rank, over threads, each with its own gu_lm
 * workspace (a share: gu_lm.B_all, row0).
 *
 * The whole batch has B_all = ranks x B rows: rank r takes rows [r*B, (r+1)*B), its threads
 * split those further. Every share draws the masks of the whole batch and keeps its rows, and
 * the loss is the whole batch's mean, so the summed gradient is that of one process with
 * batch B_all over the same data (up to float summation order; 2 threads and 2 ranks of one
 * thread add the same two shares, bit for bit). Gradients: each thread into its own block,
 * summed over threads in a fixed order, then MPI_Allreduce over ranks, so every rank holds
 * the whole batch's gradient and takes the same optimiser step.
 *
 * Every function is collective over the ranks (see par.h). With one rank and one thread the
 * step is exactly the single gu_lm_step it replaces. */
#ifndef GU_LMTEAM_H
#define GU_LMTEAM_H
#include "gulm.h"

typedef struct lmteam lmteam;

/* A team for model m, bptt T, B rows on this rank, `threads` threads (at most B; with more
 * than one, OpenBLAS is set to one thread, so the two pools do not fight). NULL with
 * gu_errmsg() on failure. */
lmteam *lmteam_new(const gu_model *m, int T, int B, int threads);
void lmteam_free(lmteam *t);
/* Rows of the whole batch (ranks x B). */
int lmteam_rows(const lmteam *t);
void lmteam_set_frozen(lmteam *t, uint32_t frozen);

/* One training step on batch k of the epoch sequence S (N ids), rows of the whole batch as
 * gu_lm_batch(x, y, S, N, lmteam_rows(t), T, k) lays them out. Adds the whole batch's
 * gradient into grad (zero it first) on every rank; rng advances as one gu_lm_step's would;
 * out: the whole batch's losses (ce_sum, n, correct summed, ce and loss their means, ar_tar
 * the whole batch's). Returns GU_OK, GU_ENUM (a non-finite loss on some share: on every rank
 * alike) or another error of this rank (gu_errmsg()). */
int lmteam_step(lmteam *t, float *grad, const int32_t *S, size_t N, int64_t k, gu_rng *rng,
		gu_loss *out);

/* Evaluates on S (N ids) from a zero state in batches of lmteam_rows(t) rows; the carried
 * training state is kept. tot: ce_sum, n, correct over all ranks, ce = loss the mean. */
int lmteam_eval(lmteam *t, const int32_t *S, size_t N, gu_loss *tot);

/* The carried hidden state of the whole batch: for each layer l, h (B_all,n_l) then c
 * (B_all,n_l). */
size_t lmteam_state_floats(const lmteam *t);
/* Collective; all (lmteam_state_floats floats) is filled on rank 0 only (NULL elsewhere). */
void lmteam_get_state(lmteam *t, float *all);
/* Every rank passes the whole state and keeps its rows. */
void lmteam_set_state(lmteam *t, const float *all);
void lmteam_reset_state(lmteam *t);
#endif
