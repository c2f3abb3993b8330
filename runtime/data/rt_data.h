/* Data sets: Fashion-MNIST (Debian's dataset-fashion-mnist), IDX files
 * (.gz or not), CIFAR-10/100 binary batches, and NumPy .npy pairs, held in
 * memory as uint8 NCHW; and image folders (rt_folder.h), of which only the
 * index is held: their images are decoded, on all cores, when a batch needs
 * them, resized to the network's input (rt_data_fit).  Batches are
 * normalised per channel (statistics of the training images) and written in
 * the runtime's CNHW layout. */
#ifndef PARSEC_RT_DATA_H
#define PARSEC_RT_DATA_H
#include "err.h"
#include "rng.h"
#include "rt_augment.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char name[256]; /* what the user gave, for messages */
  int n, c, h, w;
  int classes; /* 1 + the largest label */
  uint8_t *images; /* [n, c, h, w] */
  float *fimages;  /* or float32 .npy: [n, c, h, w], pixels / 255 */
  int32_t *labels;
  struct rt_folder_s *folder; /* folder:DIR, decoded per batch (images NULL) */
  int resize;                 /* a folder's images: the shorter side resized to this, the centre kept */
} rt_dataset;

typedef enum { RT_SPLIT_TRAIN, RT_SPLIT_TEST } rt_split;

#define RT_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* SPEC: fashion-mnist | idx:IMAGES[.gz],LABELS[.gz] | cifar10:DIR | cifar100:DIR | npy:IMAGES.npy,LABELS.npy
 * | folder:DIR */
int rt_data_open(rt_dataset *d, const char *spec, rt_split split, err_t *e);
/* Whether SPEC brings its own test split (RT_SPLIT_TEST opens). */
int rt_data_has_test(const char *spec);
/* An image folder takes the network's input shape: C channels (1: gray,
 * 3: RGB), S x S pixels (the shorter side resized to S, the centre kept);
 * other data sets have their own shape, and this does nothing.  A test set
 * for the imagenet recipe is resized to S / 0.875 first (256 for 224), as
 * DARTS's and torchvision's ImageNet evaluation does: rt_data_fit_test. */
void rt_data_fit(rt_dataset *d, int c, int s);
void rt_data_fit_test(rt_dataset *d, int c, int s, const rt_augment *train_aug);
/* Whether augmentation A can work on the data set's images (the imagenet
 * recipe needs 8-bit ones). */
int rt_data_check_augment(const rt_dataset *d, const rt_augment *a, err_t *e);
/* Images of an image folder that failed to decode so far (staged as zeros
 * after normalising), -1 for other data sets; and the cap on them: more
 * than RT_FOLDER_MAX_SKIPPED of the images staged (and more than 10) is an
 * error naming one of them. */
long rt_data_unreadable(const rt_dataset *d);
int rt_data_check_unreadable(const rt_dataset *d, err_t *e);
/* What the user should know about the data beyond its size: the augmentation
 * A, and an image folder's classes and the files it skipped or ignored. */
void rt_data_describe(const rt_dataset *d, const rt_augment *a, char *buf, size_t cap);
/* Writes DIR/classes.txt ("LABEL NAME" lines) for a data set whose classes
 * have names of their own (an image folder's directories). */
int rt_data_write_classes(const rt_dataset *d, const char *dir, err_t *e);
void rt_data_free(rt_dataset *d);
/* Keeps the first N images (of an image folder, whose files are in class
 * order, N spread evenly over them). */
void rt_data_limit(rt_dataset *d, int n);
/* Whether a spec names a CIFAR set (random crop and flip by default). */
int rt_data_is_cifar(const char *spec);
/* The class names of a named set (fashion-mnist, cifar10) with CLASSES
 * classes, or NULL. */
const char *const *rt_data_class_names(const char *spec, int classes);

/* Per-channel mean and standard deviation of images/255 (of an image
 * folder: of 1000 images spread over it). */
void rt_data_stats(const rt_dataset *d, float *mean, float *std);
/* The normalisation: MEAN and STD given (comma-separated values of
 * pixels/255, one per channel, or "imagenet" for torchvision's ImageNet
 * constants), or both empty (NULL or ""): the data's own, rt_data_stats. */
int rt_data_norm(const rt_dataset *d, const char *mean, const char *std, float *m, float *s, err_t *e);

/* The pieces of rt_data_batch, for a loader that prepares images on its own
 * threads: whether the batch's images must be prepared (decoded, cut or
 * jittered) rather than read from memory; image IDX prepared at OUT
 * [c, h, w] with its draws DR (0 when it cannot be read: zeros, named on
 * stderr the first few times); and the batch normalised into IMAGES (PX:
 * the prepared images, or NULL to read them from memory; OK: which were
 * read). */
int rt_data_prepared(const rt_dataset *d, const rt_augment *aug);
int rt_data_prepare(const rt_dataset *d, int idx, const rt_augment *aug, const rt_augment_draw *dr, uint8_t *out);
void rt_data_normalise(const rt_dataset *d, const int *idx, int n, const uint8_t *px, const uint8_t *ok,
                       const rt_augment *aug, const rt_augment_draw *dr, const float *mean, const float *std, void *images,
                       size_t elem, int32_t *labels);

/* Images IDX[0..n) as normalised floats in CNHW [c, n, h, w] (float or
 * double: ELEM bytes) and their labels. */
void rt_data_batch(const rt_dataset *d, const int *idx, int n, const float *mean, const float *std,
                   const rt_augment *aug, rng_t *rng, void *images, size_t elem, int32_t *labels);

#endif
