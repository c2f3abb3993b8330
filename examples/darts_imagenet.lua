-- The DARTS space with DARTS's ImageNet evaluation network (the paper's
-- section 4.3, DARTS's mobile setting): NetworkImageNet's stems (three 3x3
-- convs of stride 2: 224 -> 112 -> 56 -> 28), 14 cells of C = 48 with
-- reductions at L/3 and 2L/3 (28 -> 14 -> 7), the ImageNet auxiliary head
-- after cell 2L/3, global average pooling (7x7) and a linear classifier
-- over 1000 classes.  The search network and recipe are darts's: search on
-- CIFAR-10, then `parsec-run train --genotype G darts_imagenet --data
-- folder:IMAGENET` (DIR/train and DIR/val).
--
-- The training recipe is DARTS's for ImageNet (train_imagenet.py): batch
-- 128, SGD lr 0.1 multiplied by 0.97 after every epoch, momentum 0.9, weight
-- decay 3e-5, gradient clip 5, label smoothing 0.1, auxiliary weight 0.4,
-- no drop path and no cutout, 250 epochs (the paper says 600 but follows
-- DARTS, whose published recipe runs 250).
local darts = import "darts"

return space(extend(darts, {
  name = "darts_imagenet",
  description = "DARTS cell space; DARTS's ImageNet evaluation network (14 cells, C 48, 224 px, 1000 classes)",
  evaluation = {
    input = { channels = 3, size = 224 },
    classes = 1000,
    stem = "imagenet",
    cells = 14, channels = 48,
    auxiliary = true, auxiliary_weight = 0.4,
    drop_path = 0, cutout = 0,
    batch = 128, epochs = 250,
    lr = 0.1, lr_decay = 0.97, momentum = 0.9, weight_decay = 3e-5, grad_clip = 5,
    label_smoothing = 0.1,
    augment = "imagenet", -- RandomResizedCrop, flip, colour jitter (DARTS's train_imagenet.py)
  },
  transfer = { cells = 14, channels = 48 },
}))
