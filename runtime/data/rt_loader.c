/* The loader's threads and its one batch (rt_loader.h). */
#include "rt_loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rt_loader {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pthread_t *th;
  int want, nth, quit; /* threads: to start at the first batch, started */
  int ahead; /* rt_loader_ahead does something */
  /* the batch: its images are claimed one by one by the threads */
  const rt_dataset *d;
  int *idx, n, cap;
  int has_aug;
  rt_augment aug;
  rt_augment_draw *dr;
  uint8_t *px, *ok;
  size_t px_cap;
  int has_rng;
  rng_t before, after; /* the generator before and after its draws */
  int active, next, finished, busy;
  long taken_ahead, staged;
};

static void *worker(void *arg) {
  rt_loader *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->quit) {
    if (!l->active || l->next >= l->n) {
      pthread_cond_wait(&l->work, &l->mu);
      continue;
    }
    int i = l->next++;
    l->busy++;
    size_t one = (size_t)l->d->c * l->d->h * l->d->w;
    pthread_mutex_unlock(&l->mu);
    int ok = rt_data_prepare(l->d, l->idx[i], l->has_aug ? &l->aug : NULL, &l->dr[i], l->px + one * (size_t)i);
    pthread_mutex_lock(&l->mu);
    l->ok[i] = (uint8_t)ok;
    l->busy--;
    if (++l->finished == l->n || l->busy == 0) pthread_cond_broadcast(&l->done);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int rt_loader_open(rt_loader **out, int threads, int ahead, err_t *e) {
  rt_loader *l = calloc(1, sizeof *l);
  if (!l) return err_set(e, "out of memory");
  l->ahead = ahead;
  if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads <= 0) threads = 1;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->work, NULL);
  pthread_cond_init(&l->done, NULL);
  l->want = threads;
  l->th = calloc((size_t)threads, sizeof *l->th);
  if (!l->th) {
    rt_loader_close(l);
    return err_set(e, "out of memory");
  }
  *out = l;
  return 0;
}

/* The threads, at the first batch to prepare (data read straight from
   memory never needs them); -1 when none starts (called locked) */
static int start_threads(rt_loader *l) {
  for (; l->nth < l->want; l->nth++)
    if (pthread_create(&l->th[l->nth], NULL, worker, l) != 0) break;
  return l->nth > 0 ? 0 : -1;
}

/* No thread claims more of the batch; returns when none is preparing one
   (called locked) */
static void stop_batch(rt_loader *l) {
  l->next = l->n;
  while (l->busy > 0) pthread_cond_wait(&l->done, &l->mu);
  l->active = 0;
}

void rt_loader_close(rt_loader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  stop_batch(l);
  l->quit = 1;
  pthread_cond_broadcast(&l->work);
  pthread_mutex_unlock(&l->mu);
  for (int i = 0; i < l->nth; i++) pthread_join(l->th[i], NULL);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->work);
  pthread_cond_destroy(&l->done);
  free(l->th);
  free(l->idx);
  free(l->dr);
  free(l->px);
  free(l->ok);
  free(l);
}

/* Room for a batch of N images of D (called locked, nothing in flight) */
static int reserve(rt_loader *l, const rt_dataset *d, int n) {
  size_t px = (size_t)n * d->c * d->h * d->w;
  if (n > l->cap) {
    int *idx = realloc(l->idx, sizeof *idx * (size_t)n);
    if (idx) l->idx = idx;
    rt_augment_draw *dr = realloc(l->dr, sizeof *dr * (size_t)n);
    if (dr) l->dr = dr;
    uint8_t *ok = realloc(l->ok, (size_t)n);
    if (ok) l->ok = ok;
    if (!idx || !dr || !ok) return -1;
    l->cap = n;
  }
  if (px > l->px_cap) {
    uint8_t *p = realloc(l->px, px);
    if (!p) return -1;
    l->px = p;
    l->px_cap = px;
  }
  return 0;
}

/* Posts the batch to the threads (called locked): 0, or -1 without memory
   or threads */
static int post(rt_loader *l, const rt_dataset *d, const int *idx, int n, const rt_augment *aug, const rng_t *rng) {
  stop_batch(l);
  if (n <= 0 || (l->nth == 0 && start_threads(l) != 0) || reserve(l, d, n) != 0) return -1;
  l->d = d;
  l->n = n;
  memcpy(l->idx, idx, sizeof *idx * (size_t)n);
  l->has_aug = aug != NULL;
  if (aug) l->aug = *aug;
  l->has_rng = rng != NULL;
  rng_t r;
  if (rng) l->before = r = *rng;
  for (int i = 0; i < n; i++) rt_augment_draws(aug, rng ? &r : NULL, d->h, d->w, &l->dr[i]);
  if (rng) l->after = r;
  l->next = l->finished = 0;
  l->active = 1;
  pthread_cond_broadcast(&l->work);
  return 0;
}

void rt_loader_ahead(rt_loader *l, const rt_dataset *d, const int *idx, int n, const rt_augment *aug, const rng_t *rng) {
  if (!l->ahead || !rt_data_prepared(d, aug)) return;
  pthread_mutex_lock(&l->mu);
  post(l, d, idx, n, aug, rng);
  pthread_mutex_unlock(&l->mu);
}

/* whether the batch in hand is this one (called locked) */
static int is_batch(const rt_loader *l, const rt_dataset *d, const int *idx, int n, const rt_augment *aug,
                    const rng_t *rng) {
  return l->active && l->d == d && l->n == n && memcmp(l->idx, idx, sizeof *idx * (size_t)n) == 0 &&
         l->has_aug == (aug != NULL) && (!aug || memcmp(&l->aug, aug, sizeof *aug) == 0) &&
         l->has_rng == (rng != NULL) && (!rng || memcmp(&l->before, rng, sizeof *rng) == 0);
}

void rt_loader_batch(rt_loader *l, const rt_dataset *d, const int *idx, int n, const float *mean, const float *std,
                     const rt_augment *aug, rng_t *rng, void *images, size_t elem, int32_t *labels) {
  l->staged++;
  if (!rt_data_prepared(d, aug)) {
    rt_data_batch(d, idx, n, mean, std, aug, rng, images, elem, labels);
    return;
  }
  pthread_mutex_lock(&l->mu);
  int hit = is_batch(l, d, idx, n, aug, rng);
  if (!hit && post(l, d, idx, n, aug, rng) != 0) { /* no memory for the loader's batch: the plain way */
    pthread_mutex_unlock(&l->mu);
    rt_data_batch(d, idx, n, mean, std, aug, rng, images, elem, labels);
    return;
  }
  l->taken_ahead += hit;
  while (l->finished < l->n) pthread_cond_wait(&l->done, &l->mu);
  l->active = 0;
  pthread_mutex_unlock(&l->mu);
  if (rng) *rng = l->after;
  rt_data_normalise(d, idx, n, l->px, l->ok, aug, l->dr, mean, std, images, elem, labels);
}

size_t rt_loader_bytes(const rt_loader *l) {
  return l->px_cap + (size_t)l->cap * (sizeof *l->idx + sizeof *l->dr + sizeof *l->ok);
}

void rt_loader_counts(const rt_loader *l, long *ahead, long *all) {
  *ahead = l->taken_ahead;
  *all = l->staged;
}
