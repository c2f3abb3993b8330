/* Staging batches ahead of the step: a pool of threads decodes, cuts and
 * jitters the images of the batch the job will stage next (an image folder
 * streamed from disk, or the imagenet recipe on images in memory) while the
 * step before it computes, into a buffer of one batch (the bounded queue:
 * one batch ahead, C x S x S bytes an image).
 *
 * Staging stays exactly rt_data_batch: a batch prepared ahead is used only
 * when it is the batch asked for (same data, images and augmentation, and
 * its draws made from the generator's very state), otherwise it is dropped
 * and the batch prepared then; so the prefetch changes when the work is
 * done, never the batches, and a checkpoint's generator state stays the
 * one after the last batch staged. */
#ifndef PARSEC_RT_LOADER_H
#define PARSEC_RT_LOADER_H
#include "rt_data.h"

typedef struct rt_loader rt_loader;

/* THREADS decoding threads (0: one per core), started when a batch first
   needs preparing.  AHEAD: whether batches are
   prepared ahead at all; a job on the CPU backend, whose cores compute the
   step, prepares each batch when it stages it (on those cores: measured,
   preparing ahead there made an epoch about 10% slower on two cores). */
int rt_loader_open(rt_loader **l, int threads, int ahead, err_t *e);
void rt_loader_close(rt_loader *l);

/* Starts preparing batch IDX[0..n) of D (its draws from a copy of *RNG,
   which may be NULL without augmentation): the batch the next
   rt_loader_batch will likely ask for.  Nothing for data read straight
   from memory. */
void rt_loader_ahead(rt_loader *l, const rt_dataset *d, const int *idx, int n, const rt_augment *aug, const rng_t *rng);
/* rt_data_batch's batch, taken from the one prepared ahead when it is this
   batch, prepared now otherwise (by rt_data_batch itself when the loader
   has no memory or threads); *RNG advanced past its draws either way. */
void rt_loader_batch(rt_loader *l, const rt_dataset *d, const int *idx, int n, const float *mean, const float *std,
                     const rt_augment *aug, rng_t *rng, void *images, size_t elem, int32_t *labels);
/* Batches taken from those prepared ahead, and all batches staged, so far. */
void rt_loader_counts(const rt_loader *l, long *ahead, long *all);
/* The bytes its batch holds (the bound on what it keeps: one batch). */
size_t rt_loader_bytes(const rt_loader *l);

#endif
