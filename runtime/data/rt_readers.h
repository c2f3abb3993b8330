/* The data-set file formats, read from memory (rt_data_open reads the files
 * and picks the reader; the fuzz targets feed the readers directly). */
#ifndef PARSEC_RT_READERS_H
#define PARSEC_RT_READERS_H
#include "rt_data.h"

/* All of PATH, gzip'd or plain (zlib reads both); a regular file only. */
int rt_read_whole(const char *path, uint8_t **out, size_t *len, err_t *e);
/* IDX unsigned-byte images (n, h, w), then their labels (the count must
 * match the images already read into D). */
int rt_read_idx_images(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e);
int rt_read_idx_labels(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e);
/* CIFAR-10 (HUNDRED 0) or CIFAR-100 records, appended to D. */
int rt_read_cifar(rt_dataset *d, const uint8_t *b, size_t n, int hundred, const char *path, err_t *e);
/* .npy images, then integer labels (N,): uint8 (N, H, W) or (N, H, W, C),
 * or float32 (pixels / 255, as torchvision's ToTensor gives them) in those
 * shapes or (N, C, H, W), the channels (1 to 4) telling NHWC from NCHW. */
int rt_read_npy_images(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e);
int rt_read_npy_labels(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e);

#endif
