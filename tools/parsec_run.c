/* parsec-run: the runtime's command line.  Only this file decides to exit. */
#include "rt_cache.h"
#include "rt_export.h"
#include "io.h"
#include "rt_search.h"
#include "rt_show.h"
#include "rt_train.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
  fprintf(f, "usage: parsec-run COMMAND [ARGS]\n"
             "\n"
             "commands:\n"
             "  search [SPACE] [options]   search a distribution over cells (default: the bundled\n"
             "                             'small' space on Fashion-MNIST, on the CPU)\n"
             "  train (--run RUN | --genotype FILE [SPACE]) [options]\n"
             "                             train one architecture from scratch in the evaluation\n"
             "                             network; weights as safetensors with DARTS's names\n"
             "  export (--run TRAIN_RUN | --genotype FILE --weights FILE [SPACE]) --target c|cuda -o DIR\n"
             "                             a trained network as standalone C or CUDA sources\n"
             "  show RUN                   the mode, the entropy curve and each node's most probable\n"
             "                             alternatives of a search run\n"
             "  cache [show|clear]         the compiled-kernel cache: its place and size, or empty it\n"
             "\n"
             "parsec-run COMMAND --help describes each command.\n");
}

static void search_usage(FILE *f) {
  fprintf(f,
          "usage: parsec-run search [SPACE | COMPILED_DIR] [options]\n"
          "\n"
          "Learns p(alpha | pi) over the space's cells by importance-weighted Monte-Carlo\n"
          "empirical Bayes, training one sampled child at a time.  SPACE is a space file,\n"
          "a directory written by parsecgen -o, or a bundled space (darts, small,\n"
          "custom_op); default: small.  Options override the space's search recipe.\n"
          "\n"
          "  --data D        fashion-mnist | idx:IMAGES[.gz],LABELS[.gz] | cifar10:DIR |\n"
          "                  cifar100:DIR | npy:IMAGES.npy,LABELS.npy (uint8 NHWC, int labels)\n"
          "  --out RUN       the run directory (default: runs/search-SPACE-DATE-TIME)\n"
          "  --epochs N      epochs over the train split\n"
          "  --samples K     architectures sampled per step (the paper: 8 or 16)\n"
          "  --batch B       images per batch\n"
          "  --limit N       search on the first N training images only\n"
          "  --seed S        seeds the data order, the samples and the initial weights\n"
          "  --temperature T log-likelihoods are divided by T before the softmax (default 1)\n"
          "  --split F       share of the training images that train the weights; the rest\n"
          "                  is the search split that weighs the samples (default 0.5)\n"
          "  --arch-lr LR    Adam learning rate of the logits\n"
          "  --init-from RUN start pi from RUN's distribution and tune it on the space's\n"
          "                  transfer network (paper section 4.2)\n"
          "  --threads T     CPU threads (default: all cores)\n"
          "  --device D      cpu | cuda | auto (default auto: the GPU when one is usable)\n"
          "  --no-graphs     on a GPU, evaluate the mode batch by batch kernel by kernel,\n"
          "                  not as a recorded CUDA graph\n"
          "  --resume        continue the run in --out from its checkpoint\n"
          "  --progress      draw progress even when stderr is not a terminal\n"
          "  --no-progress   never draw progress\n"
          "  -q, --quiet     print errors only\n"
          "\n"
          "Writes RUN/log.jsonl (a line per epoch), RUN/distribution.json, RUN/genotype.txt\n"
          "(the mode, in DARTS's text form), RUN/cells.dot (and cells.svg with Graphviz) and\n"
          "RUN/checkpoint.bin (every epoch, and on SIGINT/SIGTERM).\n"
          "Exit status: 0 done, 1 error, 2 bad usage, 3 no usable device, 130 interrupted\n"
          "(the checkpoint lets --resume continue).\n");
}

/* Whole-string integer in [lo, hi]; no atoi on user input. */
static int parse_int(const char *opt, const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "parsec-run: %s takes an integer in %ld..%ld, not '%s'\n", opt, lo, hi, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "parsec-run: %s takes a number in [%g, %g], not '%s'\n", opt, lo, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* The arguments search and train share: the positional SPACE, --progress,
 * --no-progress, -q; and an option missing its value.  1: handled (none
 * takes a value), 0: not one of them, -1: bad usage, reported. */
static int shared_arg(const char *cmd, const char *a, const char *v, const char **space, int *progress, int *quiet) {
  if (!strcmp(a, "--progress")) *progress = 1;
  else if (!strcmp(a, "--no-progress")) *progress = 0;
  else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) *quiet = 1;
  else if (a[0] != '-') {
    if (*space) {
      fprintf(stderr, "parsec-run %s: one space at a time (got '%s' and '%s')\n", cmd, *space, a);
      return -1;
    }
    *space = a;
  } else if (!v) {
    fprintf(stderr, "parsec-run %s: %s needs a value (see parsec-run %s --help)\n", cmd, a, cmd);
    return -1;
  } else {
    return 0;
  }
  return 1;
}

static int device_ok(const char *cmd, const char *device) {
  if (!strcmp(device, "cpu") || !strcmp(device, "cuda") || !strcmp(device, "auto")) return 1;
  fprintf(stderr, "parsec-run %s: --device takes cpu, cuda or auto, not '%s'\n", cmd, device);
  return 0;
}

static int cmd_search(int argc, char **argv) {
  rt_search_opts o = {0};
  o.epochs = o.samples = o.batch = o.limit = o.seed = -1;
  o.temperature = o.split = o.arch_lr = -1;
  o.device = "auto";
  o.progress = -1;
  static char outbuf[512];
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1, rc = 0, shared;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      search_usage(stdout);
      return 0;
    } else if (strcmp(a, "--resume") == 0) o.resume = 1, takes = 0;
    else if (strcmp(a, "--no-graphs") == 0) o.no_graphs = 1, takes = 0;
    else if ((shared = shared_arg("search", a, v, &o.space, &o.progress, &o.quiet)) != 0) {
      if (shared < 0) return 2;
      takes = 0;
    } else if (strcmp(a, "--data") == 0) o.data = v;
    else if (strcmp(a, "--out") == 0) o.out = v;
    else if (strcmp(a, "--device") == 0) o.device = v;
    else if (strcmp(a, "--init-from") == 0) o.init_from = v;
    else if (strcmp(a, "--epochs") == 0) rc = parse_int(a, v, 1, 100000, &o.epochs);
    else if (strcmp(a, "--samples") == 0) rc = parse_int(a, v, 1, 256, &o.samples);
    else if (strcmp(a, "--batch") == 0) rc = parse_int(a, v, 1, 4096, &o.batch);
    else if (strcmp(a, "--limit") == 0) rc = parse_int(a, v, 4, INT_MAX, &o.limit);
    else if (strcmp(a, "--seed") == 0) rc = parse_int(a, v, 0, INT_MAX, &o.seed);
    else if (strcmp(a, "--threads") == 0) rc = parse_int(a, v, 1, 1024, &o.threads);
    else if (strcmp(a, "--temperature") == 0) rc = parse_num(a, v, 1e-6, 1e6, &o.temperature);
    else if (strcmp(a, "--split") == 0) rc = parse_num(a, v, 0.01, 0.99, &o.split);
    else if (strcmp(a, "--arch-lr") == 0) rc = parse_num(a, v, 0, 10, &o.arch_lr);
    else {
      fprintf(stderr, "parsec-run search: unknown option '%s' (see parsec-run search --help)\n", a);
      return 2;
    }
    if (rc) return 2;
    i += takes;
  }
  if (!device_ok("search", o.device)) return 2;
  if (o.resume && !o.out) {
    fprintf(stderr, "parsec-run search: --resume needs --out RUN, the run to continue\n");
    return 2;
  }
  if (o.resume && (o.space || o.data || o.samples >= 0 || o.batch >= 0 || o.limit >= 0 || o.seed >= 0 ||
                   o.temperature > 0 || o.split > 0 || o.arch_lr > 0 || o.init_from)) {
    fprintf(stderr, "parsec-run search: --resume continues a run as it was started; only --epochs, --threads, "
                    "--device, --no-graphs and the progress options may be given with it\n");
    return 2;
  }
  if (!o.space) o.space = "small";
  if (!o.out) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const char *base = strrchr(o.space, '/');
    base = base ? base + 1 : o.space;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(base, "."), base);
    snprintf(outbuf, sizeof outbuf, "runs/search-%s-%s", name, stamp);
    o.out = outbuf;
  }
  err_t e = ERR_INIT;
  int rc = rt_search_run(&o, &e);
  if (rc != RT_OK && rc != RT_INTERRUPTED) fprintf(stderr, "parsec-run search: %s\n", err_msg(&e));
  err_clear(&e);
  return rc;
}

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: parsec-run train (--run RUN | --genotype FILE [SPACE]) [options]\n"
          "\n"
          "Trains one fixed architecture from scratch: the mode of a search run, or a\n"
          "genotype in DARTS's text form (published ones such as DARTS_V2 too; SPACE names\n"
          "its space, default darts).  The evaluation network of the space: affine BN, no\n"
          "BN after pools, an auxiliary head (weight 0.4), drop path scaled by epoch,\n"
          "cutout, SGD with cosine decay to 0, momentum 0.9, weight decay 3e-4, clip 5.\n"
          "\n"
          "  --data D          training data (as for search; default: the space's)\n"
          "  --test-data D     test data (default: the data set's test split, when it has one)\n"
          "  --out DIR         the run directory (default: runs/train-DATE-TIME)\n"
          "  --layers L        cells (default: the space's evaluation network, 20 for darts)\n"
          "  --channels C      initial channels (default 36 for darts)\n"
          "  --epochs N        (default: the space's, 600 for darts)\n"
          "  --batch B         (default 96)\n"
          "  --lr LR           initial learning rate (default 0.025)\n"
          "  --drop-path P     drop-path probability at the last epoch (default 0.2; the\n"
          "                    PARSEC paper states 0.4)\n"
          "  --cutout N        cutout square side, 0 for none (default 16 for darts)\n"
          "  --no-auxiliary    train without the auxiliary head\n"
          "  --no-graphs       on a GPU, launch a step's kernels one by one instead of\n"
          "                    replaying the step recorded as a CUDA graph\n"
          "  --limit N         the first N images of each set\n"
          "  --seed S, --threads T, --device D, --resume, --progress, --no-progress, -q\n"
          "\n"
          "Writes DIR/log.jsonl (per epoch: train and test loss and accuracy, lr, seconds, memory),\n"
          "DIR/weights.safetensors (tensor names of DARTS's evaluation model's state_dict),\n"
          "DIR/genotype.txt, DIR/cells.dot and DIR/checkpoint.bin (every epoch).\n");
}

static int cmd_train(int argc, char **argv) {
  rt_train_opts o = {0};
  o.layers = o.channels = o.epochs = o.batch = o.cutout = o.limit = o.seed = -1;
  o.lr = o.drop_path = -1;
  o.auxiliary = -1;
  o.device = "auto";
  o.progress = -1;
  static char outbuf[512];
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1, rc = 0, shared;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      train_usage(stdout);
      return 0;
    } else if (!strcmp(a, "--resume")) o.resume = 1, takes = 0;
    else if (!strcmp(a, "--no-auxiliary")) o.auxiliary = 0, takes = 0;
    else if (!strcmp(a, "--no-graphs")) o.no_graphs = 1, takes = 0;
    else if ((shared = shared_arg("train", a, v, &o.space, &o.progress, &o.quiet)) != 0) {
      if (shared < 0) return 2;
      takes = 0;
    } else if (!strcmp(a, "--run")) o.run = v;
    else if (!strcmp(a, "--genotype")) o.genotype = v;
    else if (!strcmp(a, "--data")) o.data = v;
    else if (!strcmp(a, "--test-data")) o.test_data = v;
    else if (!strcmp(a, "--out")) o.out = v;
    else if (!strcmp(a, "--device")) o.device = v;
    else if (!strcmp(a, "--layers")) rc = parse_int(a, v, 1, 64, &o.layers);
    else if (!strcmp(a, "--channels")) rc = parse_int(a, v, 1, 4096, &o.channels);
    else if (!strcmp(a, "--epochs")) rc = parse_int(a, v, 1, 100000, &o.epochs);
    else if (!strcmp(a, "--batch")) rc = parse_int(a, v, 1, 4096, &o.batch);
    else if (!strcmp(a, "--cutout")) rc = parse_int(a, v, 0, 4096, &o.cutout);
    else if (!strcmp(a, "--limit")) rc = parse_int(a, v, 1, INT_MAX, &o.limit);
    else if (!strcmp(a, "--seed")) rc = parse_int(a, v, 0, INT_MAX, &o.seed);
    else if (!strcmp(a, "--threads")) rc = parse_int(a, v, 1, 1024, &o.threads);
    else if (!strcmp(a, "--lr")) rc = parse_num(a, v, 0, 10, &o.lr);
    else if (!strcmp(a, "--drop-path")) rc = parse_num(a, v, 0, 0.95, &o.drop_path);
    else {
      fprintf(stderr, "parsec-run train: unknown option '%s' (see parsec-run train --help)\n", a);
      return 2;
    }
    if (rc) return 2;
    i += takes;
  }
  if (!device_ok("train", o.device)) return 2;
  if (o.resume && !o.out) {
    fprintf(stderr, "parsec-run train: --resume needs --out DIR, the training to continue\n");
    return 2;
  }
  if (!o.resume && !!o.run == !!o.genotype) {
    fprintf(stderr, "parsec-run train: give the architecture with --run RUN or --genotype FILE (one of them)\n");
    return 2;
  }
  if (o.run && o.space) {
    fprintf(stderr, "parsec-run train: --run RUN brings its own space; SPACE goes with --genotype\n");
    return 2;
  }
  if (!o.out) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(outbuf, sizeof outbuf, "runs/train-%s", stamp);
    o.out = outbuf;
  }
  err_t e = ERR_INIT;
  int rc = rt_train_run(&o, &e);
  if (rc != RT_OK && rc != RT_INTERRUPTED) fprintf(stderr, "parsec-run train: %s\n", err_msg(&e));
  err_clear(&e);
  return rc;
}

static int cmd_export(int argc, char **argv) {
  rt_export_opts o = {0};
  o.target = "c";
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      printf("usage: parsec-run export (--run TRAIN_RUN | --genotype FILE --weights FILE [SPACE]) --target c|cuda -o DIR\n"
             "\n"
             "Writes a trained network as standalone sources into DIR (which must not exist):\n"
             "network.c (or network.cu): the kernels generated for this network's shapes and\n"
             "its forward pass; network.h: the API (load weights, normalise images, forward\n"
             "a batch to logits); weights.bin; predict.c, a program that reads IDX, CIFAR-10\n"
             "or .npy images and prints predictions and accuracy; a Makefile; cells.dot.\n"
             "The C sources need a C compiler, libm and zlib; the CUDA ones the CUDA\n"
             "toolkit with cuBLAS.  TRAIN_RUN is a directory written by parsec-run train;\n"
             "--weights takes its weights.safetensors (with --genotype and SPACE, default\n"
             "darts).\n");
      return 0;
    } else if (a[0] != '-') {
      o.space = a;
      continue;
    } else if (!v) {
      fprintf(stderr, "parsec-run export: %s needs a value (see parsec-run export --help)\n", a);
      return 2;
    } else if (!strcmp(a, "--run")) o.run = v;
    else if (!strcmp(a, "--genotype")) o.genotype = v;
    else if (!strcmp(a, "--weights")) o.weights = v;
    else if (!strcmp(a, "--target")) o.target = v;
    else if (!strcmp(a, "-o") || !strcmp(a, "--out")) o.out = v;
    else {
      fprintf(stderr, "parsec-run export: unknown option '%s' (see parsec-run export --help)\n", a);
      return 2;
    }
    i++;
  }
  if (!o.out) {
    fprintf(stderr, "parsec-run export: give the output directory with -o DIR\n");
    return 2;
  }
  if (strcmp(o.target, "c") && strcmp(o.target, "cuda")) {
    fprintf(stderr, "parsec-run export: --target takes c or cuda, not '%s'\n", o.target);
    return 2;
  }
  if (!!o.run == !!(o.genotype || o.weights) || (!o.run && (!o.genotype || !o.weights))) {
    fprintf(stderr, "parsec-run export: give --run TRAIN_RUN, or --genotype FILE with --weights FILE\n");
    return 2;
  }
  err_t e = ERR_INIT;
  if (rt_export_run(&o, &e) != 0) {
    fprintf(stderr, "parsec-run export: %s\n", err_msg(&e));
    err_clear(&e);
    return 1;
  }
  return 0;
}

static int cmd_show(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    fprintf(argc < 1 ? stderr : stdout,
            "usage: parsec-run show RUN [--top N]\n\n"
            "Prints a search run's mode genotype, the entropy and mode-accuracy curve per\n"
            "epoch, and the N most probable choices of every node's inputs (default 3).\n");
    return argc < 1 ? 2 : 0;
  }
  int top = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
      if (parse_int("--top", argv[++i], 1, 100, &top)) return 2;
    } else {
      fprintf(stderr, "parsec-run show: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  err_t e = ERR_INIT;
  if (rt_show_run(stdout, argv[0], top, &e) != 0) {
    fprintf(stderr, "parsec-run show: %s\n", err_msg(&e));
    err_clear(&e);
    return 1;
  }
  return 0;
}

static int cmd_cache(int argc, char **argv) {
  const char *what = argc > 0 ? argv[0] : "show";
  if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
    printf("usage: parsec-run cache [show|clear]\n\n"
           "The compiled kernels live in $PARSEC_CACHE_DIR, else $XDG_CACHE_HOME/parsec,\n"
           "else ~/.cache/parsec (PARSEC_CACHE=off: a temporary directory per run;\n"
           "PARSEC_CACHE_MAX_MB caps its size, default 1024).  show: where and how big;\n"
           "clear: remove every compiled kernel.\n");
    return 0;
  }
  char root[4096];
  err_t e = ERR_INIT;
  if (rt_cache_root(root, sizeof root, &e) != 0) {
    fprintf(stderr, "parsec-run cache: %s\n", err_msg(&e));
    return 1;
  }
  if (strcmp(what, "show") == 0) {
    long n;
    long long bytes;
    if (rt_cache_usage(root, &n, &bytes, &e) != 0) {
      fprintf(stderr, "parsec-run cache: %s\n", err_msg(&e));
      return 1;
    }
    printf("kernel cache: %s\n%ld compiled kernels, %.1f MiB\n", root, n, (double)bytes / (1 << 20));
    return 0;
  }
  if (strcmp(what, "clear") == 0) {
    long n;
    if (rt_cache_clear(root, &n, &e) != 0) {
      fprintf(stderr, "parsec-run cache: %s\n", err_msg(&e));
      return 1;
    }
    printf("removed %ld compiled kernels from %s\n", n, root);
    return 0;
  }
  fprintf(stderr, "parsec-run cache: unknown action '%s' (show or clear)\n", what);
  return 2;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("parsec-run %s\n", PARSEC_VERSION);
    return 0;
  }
  if (strcmp(cmd, "search") == 0) return cmd_search(argc - 2, argv + 2);
  if (strcmp(cmd, "show") == 0) return cmd_show(argc - 2, argv + 2);
  if (strcmp(cmd, "train") == 0) return cmd_train(argc - 2, argv + 2);
  if (strcmp(cmd, "export") == 0) return cmd_export(argc - 2, argv + 2);
  if (strcmp(cmd, "cache") == 0) return cmd_cache(argc - 2, argv + 2);
  fprintf(stderr, "parsec-run: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
