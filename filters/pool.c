/* pool.c: a fixed team of threads (see pool.h): a generation counter under one mutex, a
 * condition to start a job and one to report it done. */
#include <pthread.h>
#include <stdlib.h>

#include "gulm.h"
#include "pool.h"

struct tpool {
	int n;
	tpool_fn fn;
	void *arg;
	pthread_t *th;
	int started;    /* threads 1..started are running */
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	int job, gen, n_done, quit;
};

typedef struct {
	tpool *p;
	int j;
} targ;

static void *thread_main(void *a)
{
	targ *t = a;
	tpool *p = t->p;
	int j = t->j, seen = 0;
	free(t);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		int job = p->job;
		pthread_mutex_unlock(&p->mu);
		p->fn(p->arg, j, job);
		pthread_mutex_lock(&p->mu);
		if (++p->n_done == p->n - 1) pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

void tpool_free(tpool *p)
{
	if (!p) return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int j = 1; j <= p->started; j++) pthread_join(p->th[j], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go), pthread_cond_destroy(&p->done);
	free(p->th);
	free(p);
}

tpool *tpool_new(int n, tpool_fn fn, void *arg)
{
	tpool *p = gu_calloc(1, sizeof *p);
	if (!p) return NULL;
	p->n = n < 1 ? 1 : n, p->fn = fn, p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL), pthread_cond_init(&p->done, NULL);
	if (!(p->th = gu_calloc((size_t)p->n, sizeof *p->th))) goto fail;
	for (int j = 1; j < p->n; j++) {
		targ *t = gu_malloc(sizeof *t);
		if (!t) goto fail;
		t->p = p, t->j = j;
		if (pthread_create(&p->th[j], NULL, thread_main, t) != 0) {
			free(t);
			gu_err(GU_ENOMEM, "cannot start thread %d of %d", j + 1, p->n);
			goto fail;
		}
		p->started = j;
	}
	return p;
fail:
	tpool_free(p);
	return NULL;
}

void tpool_run(tpool *p, int job)
{
	if (p->n > 1) {
		pthread_mutex_lock(&p->mu);
		p->job = job, p->n_done = 0, p->gen++;
		pthread_cond_broadcast(&p->go);
		pthread_mutex_unlock(&p->mu);
	}
	p->fn(p->arg, 0, job);
	if (p->n > 1) {
		pthread_mutex_lock(&p->mu);
		while (p->n_done < p->n - 1) pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
}

void tpool_add_slice(float *restrict dst, const float *restrict src, size_t n, int j, int nt)
{
	size_t per = (n + (size_t)nt - 1) / (size_t)nt, a = (size_t)j * per, e = a + per < n ? a + per : n;
	for (size_t p = a; p < e; p++) dst[p] += src[p];
}
