/* train.c: optimiser state over a model's parameter block, with layer groups that can be
 * frozen and discriminative learning rates (REFERENCE-SEMANTICS 5). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gulm.h"

static float *alloc_block(size_t n)
{
	float *p = NULL;
	if (posix_memalign((void **)&p, 64, (n ? n : 1) * sizeof *p) != 0) {
		gu_err(GU_ENOMEM, "out of memory allocating %zu floats", n);
		return NULL;
	}
	memset(p, 0, n * sizeof *p);
	return p;
}

gu_opt *gu_opt_new(gu_model *m)
{
	if (m->n_groups > GU_MAX_GROUPS) {
		gu_err(GU_EARG, "model has %d layer groups, at most %d supported", m->n_groups, GU_MAX_GROUPS);
		return NULL;
	}
	gu_opt *o = gu_calloc(1, sizeof *o);
	if (!o) return NULL;
	o->m = m;
	o->wd = 1e-2, o->beta2 = 0.99, o->eps = 1e-8;
	o->grad = alloc_block(m->n_params);
	o->adam_m = alloc_block(m->n_params);
	o->adam_v = alloc_block(m->n_params);
	if (!o->grad || !o->adam_m || !o->adam_v) {
		gu_opt_free(o);
		return NULL;
	}
	return o;
}

void gu_opt_free(gu_opt *o)
{
	if (!o) return;
	free(o->grad);
	free(o->adam_m);
	free(o->adam_v);
	free(o);
}

void gu_opt_zero_grad(gu_opt *o) { memset(o->grad, 0, o->m->n_params * sizeof *o->grad); }

void gu_opt_reset(gu_opt *o)
{
	memset(o->adam_m, 0, o->m->n_params * sizeof *o->adam_m);
	memset(o->adam_v, 0, o->m->n_params * sizeof *o->adam_v);
	memset(o->step, 0, sizeof o->step);
}

double gu_opt_step(gu_opt *o, const double *lr, double beta1, uint32_t frozen)
{
	const gu_model *m = o->m;
	double ss = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer || (frozen >> t->group & 1)) continue;
		const float *g = o->grad + t->off;
		double s = 0;
		for (size_t j = 0; j < t->numel; j++) s += (double)g[j] * g[j];
		ss += s;
	}
	double norm = sqrt(ss);
	if (!isfinite(norm)) return norm;
	if (o->clip > 0 && o->clip / (norm + 1e-6) < 1) {
		float c = (float)(o->clip / (norm + 1e-6));
		for (int i = 0; i < m->n_tensors; i++) {
			const gu_tensor *t = &m->tensors[i];
			if (t->buffer || (frozen >> t->group & 1)) continue;
			float *g = o->grad + t->off;
			for (size_t j = 0; j < t->numel; j++) g[j] *= c;
		}
	}
	int stepped[GU_MAX_GROUPS] = {0};
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer || (frozen >> t->group & 1)) continue;
		if (!stepped[t->group]) o->step[t->group]++, stepped[t->group] = 1;
		gu_adamw_step(m->params + t->off, o->grad + t->off, o->adam_m + t->off, o->adam_v + t->off, t->numel,
			      lr[t->group], beta1, o->beta2, o->eps, o->wd, o->step[t->group]);
	}
	return norm;
}

void gu_discriminative_lr(double *lr, int n_groups, double lr_max, double factor)
{
	for (int g = 0; g < n_groups; g++) lr[g] = lr_max / pow(factor, n_groups - 1 - g);
}
