/* clsteam.h: one classifier training step computed by a team: the records of a batch split
 * over MPI ranks (par.h) and, inside each rank, over threads, each share through the encoder in
 * its own gu_cls workspace (gu_cls_share_forward); the pooled features of every record are
 * gathered so that the head (BatchNorm statistics, dropout, loss) runs on the whole batch, the
 * same on every rank (gu_cls_head_step); each share then runs its encoder backward
 * (gu_cls_share_backward). Gradients are summed over threads, then MPI_Allreduce over ranks.
 * The step is that of one process on the whole batch up to float summation order.
 *
 * A batch of nb records (ids (S,nb), one padded length) is split into P = ranks x threads
 * shares, share q taking records [q*nb/P, (q+1)*nb/P); a share left without records (nb < P)
 * runs one record without keeping it, so that every share draws the same random numbers.
 * Collective over the ranks (par.h). */
#ifndef GU_CLSTEAM_H
#define GU_CLSTEAM_H
#include "gulm.h"

typedef struct clsteam clsteam;

/* A team for model m, batches of at most B records a rank (ranks x B in all), `threads`
 * threads. NULL with gu_errmsg() on failure. */
clsteam *clsteam_new(gu_model *m, int B, int threads);
void clsteam_free(clsteam *t);
/* Records of a whole batch (ranks x B). */
int clsteam_rows(const clsteam *t);
void clsteam_set_frozen(clsteam *t, uint32_t frozen);
/* Thread 0's workspace (batches of up to its B_max records), free between steps: for
 * evaluation, so that no second encoder workspace is needed. Owned by the team. */
gu_cls *clsteam_workspace(clsteam *t);
/* One training step on the whole batch ids (S,nb) with labels (nb), nb <= clsteam_rows: adds
 * the whole batch's gradient into grad (zero it first) on every rank; rng advances as one
 * gu_cls_step's would; out: the whole batch's losses. GU_OK, GU_ENUM (on every rank alike) or
 * another error of this rank. */
int clsteam_step(clsteam *t, float *grad, const int32_t *ids, const int32_t *labels, int S, int nb,
		 gu_rng *rng, gu_loss *out);
#endif
