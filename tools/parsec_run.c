/* parsec-run: the runtime's command line.  Each command is a table of its
 * options (cli.h) and a call into the runtime; only this file decides to
 * exit, with the status the runtime's error carries. */
#include "cli.h"
#include "rt_cache.h"
#include "rt_comm.h"
#include "rt_ensemble.h"
#include "rt_export.h"
#include "rt_genotypes.h"
#include "rt_sample.h"
#include "rt_search.h"
#include "rt_show.h"
#include "rt_train.h"
#include "version.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXITS_JOB                                                                      \
  "0 done, 1 error, 2 bad usage, 3 no usable device (--device cuda without\n"           \
  "a GPU), 130 interrupted (SIGINT or SIGTERM: the checkpoint lets --resume continue)"
#define EXITS_TOOL "0 done, 1 error, 2 bad usage"

/* The options every job (search, train) takes, into its table. */
#define JOB_OPTIONS(o, what)                                                                                        \
  {"--threads", NULL, CLI_INT, &(o).threads, "T", "CPU threads (default: all cores)", 1, 1024},                     \
      {"--device", NULL, CLI_CHOICE, &(o).device, "D", "cpu | cuda | cuda:N | auto (default auto: the GPU when one is usable; cuda:N the GPU numbered N)", \
       0, 0, 0, "cpu|cuda|cuda:N|auto"},                                                                                    \
      {"--resume", NULL, CLI_FLAG, &(o).resume, NULL, "continue the " what " in --out from its checkpoint", 0, 0, 1},  \
      {"--progress", NULL, CLI_FLAG, &(o).progress, NULL, "draw progress even when stderr is not a terminal", 0, 0, 1}, \
      {"--no-progress", NULL, CLI_FLAG, &(o).progress, NULL, "never draw progress", 0, 0, 0},                       \
      {"--quiet", "-q", CLI_FLAG, &(o).quiet, NULL, "print errors only", 0, 0, 1}

/* The augmentation of the training images (O: an rt_search_opts or rt_train_opts). */
#define AUGMENT_OPTION(O) \
      {"--image-size", NULL, CLI_INT, &(O).image_size, "S", \
       "the network's input size (default: the space's); folder images\nare resized to it", 8, 4096}, \
      {"--mean", NULL, CLI_STR, &(O).mean, "M", \
       "per-channel means of pixels / 255, comma-separated, or imagenet\n(default: measured on the training images)"}, \
      {"--std", NULL, CLI_STR, &(O).std, "S", "per-channel standard deviations, as --mean"}, \
      {"--augment", NULL, CLI_CHOICE, &(O).augment, "A", \
       "auto | none | flip | crop-flip | imagenet (default auto: crop-flip\nfor CIFAR and small folder images, imagenet for folder images\nof 64 px or more, none otherwise)", \
       0, 0, 0, "auto|none|flip|crop-flip|imagenet"}

/* The training recipe's options, shared by train and ensemble (T: an rt_train_opts). */
#define TRAIN_OPTIONS(T) \
      {"--data", NULL, CLI_STR, &(T).data, "D", "training data (as for search; default: the space's)"}, \
      AUGMENT_OPTION(T), \
      {"--test-data", NULL, CLI_STR, &(T).test_data, "D", "test data (default: the data set's test split, when it has one)"}, \
      {"--layers", NULL, CLI_INT, &(T).layers, "L", "cells (default: the space's evaluation network, 20 for darts)", 1, 64}, \
      {"--channels", NULL, CLI_INT, &(T).channels, "C", "initial channels (default 36 for darts)", 1, 4096}, \
      {"--epochs", NULL, CLI_INT, &(T).epochs, "N", "(default: the space's, 600 for darts)", 1, 100000}, \
      {"--batch", NULL, CLI_INT, &(T).batch, "B", "(default 96)", 1, 4096}, \
      {"--lr", NULL, CLI_NUM, &(T).lr, "LR", "initial learning rate (default 0.025)", 0, 10}, \
      {"--drop-path", NULL, CLI_NUM, &(T).drop_path, "P", \
       "drop-path probability at the last epoch (default 0.2; the\nPARSEC paper states 0.4)", 0, 0.95}, \
      {"--cutout", NULL, CLI_INT, &(T).cutout, "N", "cutout square side, 0 for none (default 16 for darts)", 0, 4096}, \
      {"--label-smoothing", NULL, CLI_NUM, &(T).label_smoothing, "E", \
       "train against labels smoothed by E (1 - E on the label, E / classes\non every class; default: the space's, 0)", 0, 0.99}, \
      {"--no-auxiliary", NULL, CLI_FLAG, &(T).auxiliary, NULL, "train without the auxiliary head", 0, 0, 0}, \
      {"--no-graphs", NULL, CLI_FLAG, &(T).no_graphs, NULL, \
       "on a GPU, launch a step's kernels one by one instead of\nreplaying the step recorded as a CUDA graph", 0, 0, 1}, \
      {"--limit", NULL, CLI_INT, &(T).limit, "N", "the first N images of each set (of a folder: N spread over it)", 1, INT_MAX}, \
      {"--seed", NULL, CLI_INT, &(T).seed, "S", "seeds the data order, drop path and the initial weights", 0, INT_MAX}

/* "runs/KIND-[NAME-]DATE-TIME" when no --out was given */
static const char *default_out(char *buf, size_t cap, const char *kind, const char *space) {
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  char stamp[32], name[128] = "";
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  if (space) {
    const char *base = strrchr(space, '/');
    base = base ? base + 1 : space;
    snprintf(name, sizeof name, "%.*s-", (int)strcspn(base, "."), base);
  }
  snprintf(buf, cap, "runs/%s-%s%s", kind, name, stamp);
  return buf;
}

/* The whole command line, for a run's record (config.json). */
static int whole_argc;
static char **whole_argv;

/* What a job returned: the error's message unless it was interrupted. */
static int finish(const char *cmd, int status, err_t *e) {
  if (status != 0 && status != ERR_INTERRUPTED) fprintf(stderr, "parsec-run %s: %s\n", cmd, err_msg(e));
  err_clear(e);
  /* one of several ranks failed: the others would wait for it in their next
     collective, so the whole job ends now, with this status */
  rt_comm c;
  err_t ce = ERR_INIT;
  if (status != 0 && status != ERR_INTERRUPTED && rt_comm_open(&c, &ce) == 0 && c.size > 1) {
    fflush(NULL);
    rt_comm_abort(&c, status);
  }
  err_clear(&ce);
  return status;
}

/* ---------- search ---------- */

static int cmd_search(int argc, char **argv) {
  rt_search_opts o = {0};
  o.epochs = o.samples = o.batch = o.limit = o.seed = o.image_size = -1;
  o.temperature = o.split = o.arch_lr = o.temperature_end = NAN;
  o.warmup = o.uniform_weights = -1;
  o.device = "auto";
  o.progress = -1;
  const cli_opt opts[] = {
      {"--data", NULL, CLI_STR, &o.data, "D",
       "fashion-mnist | idx:IMAGES[.gz],LABELS[.gz] | cifar10:DIR |\ncifar100:DIR | npy:IMAGES.npy,LABELS.npy (uint8 NHWC or float32,\nint labels) | folder:DIR (DIR/<class>/*.jpg|png, or DIR/train/\nand DIR/val/)"},
      AUGMENT_OPTION(o),
      {"--out", NULL, CLI_STR, &o.out, "RUN", "the run directory (default: runs/search-SPACE-DATE-TIME)"},
      {"--epochs", NULL, CLI_INT, &o.epochs, "N", "epochs over the train split", 1, 100000},
      {"--samples", NULL, CLI_INT, &o.samples, "K", "architectures sampled per step (the paper: 8 or 16)", 1, 256},
      {"--batch", NULL, CLI_INT, &o.batch, "B", "images per batch", 1, 4096},
      {"--limit", NULL, CLI_INT, &o.limit, "N", "search on the first N training images only (of a folder: N\nspread over it)", 4, INT_MAX},
      {"--seed", NULL, CLI_INT, &o.seed, "S", "seeds the data order, the samples and the initial weights", 0, INT_MAX},
      {"--temperature", NULL, CLI_NUM, &o.temperature, "T",
       "log-likelihoods are divided by T before the softmax (default 1)", 1e-6, 1e6},
      {"--temperature-end", NULL, CLI_NUM, &o.temperature_end, "T",
       "move the temperature linearly to T by the last epoch (annealing;\ndefault: constant)", 1e-6, 1e6},
      {"--warmup", NULL, CLI_INT, &o.warmup, "W",
       "the first W epochs train the weights on uniformly weighted\nsamples, pi frozen (default 0)", 0, 100000},
      {"--uniform-weights", NULL, CLI_FLAG, &o.uniform_weights, NULL,
       "average the weight gradients uniformly over the K samples;\npi keeps the importance weights", 0, 0, 1},
      {"--split", NULL, CLI_NUM, &o.split, "F",
       "share of the training images that train the weights; the rest\nis the search split that weighs the samples (default 0.5)",
       0.01, 0.99},
      {"--arch-lr", NULL, CLI_NUM, &o.arch_lr, "LR", "Adam learning rate of the logits", 0, 10},
      {"--init-from", NULL, CLI_STR, &o.init_from, "RUN",
       "start pi from RUN's distribution and tune it on the space's\ntransfer network (paper section 4.2)"},
      {"--no-graphs", NULL, CLI_FLAG, &o.no_graphs, NULL,
       "on a GPU, evaluate the mode batch by batch kernel by kernel,\nnot as a recorded CUDA graph", 0, 0, 1},
      JOB_OPTIONS(o, "run"),
  };
  const cli_pos pos[] = {{"SPACE", &o.space, 0, NULL}};
  const cli_cmd c = {
      "parsec-run", "search", "[SPACE | COMPILED_DIR] [options]",
      "Learns p(alpha | pi) over the space's cells by importance-weighted Monte-Carlo\n"
      "empirical Bayes, training one sampled child at a time.  SPACE is a space file,\n"
      "a directory written by parsecgen -o, or a bundled space (darts, small, custom_op,\n"
      "darts_imagenet); default: small.  Options override the space's search recipe.",
      opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
      "Writes RUN/log.jsonl (a line per epoch), RUN/distribution.json, RUN/genotype.txt\n"
      "(the mode, in DARTS's text form), RUN/cells.dot (and cells.svg with Graphviz) and\n"
      "RUN/checkpoint.bin (every epoch, and on SIGINT/SIGTERM).",
      EXITS_JOB, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  if (o.resume && !o.out) return cli_usage_error(&c, "--resume needs --out RUN, the run to continue");
  if (!o.space && !o.resume) o.space = "small";
  o.argc = whole_argc;
  o.argv = whole_argv;
  static char outbuf[512];
  if (!o.out) o.out = default_out(outbuf, sizeof outbuf, "search", o.space);
  err_t e = ERR_INIT;
  return finish("search", rt_search_run(&o, &e), &e);
}

/* ---------- train ---------- */

static int cmd_train(int argc, char **argv) {
  rt_train_opts o = {0};
  o.layers = o.channels = o.epochs = o.batch = o.cutout = o.limit = o.seed = o.image_size = -1;
  o.lr = o.drop_path = o.label_smoothing = NAN;
  o.auxiliary = -1;
  o.device = "auto";
  o.progress = -1;
  const cli_opt opts[] = {
      {"--run", NULL, CLI_STR, &o.run, "RUN", "a search run: train its mode"},
      {"--genotype", NULL, CLI_STR, &o.genotype, "G",
       "or a genotype: a file in DARTS's text form (FILE:NAME picks one\nof several, as in genotypes.py), a published one by name\n"
       "(DARTS_V1, DARTS_V2, PC_DARTS_cifar, PC_DARTS_image, PDARTS),\nor the text Genotype(...) itself"},
      {"--out", NULL, CLI_STR, &o.out, "DIR", "the run directory (default: runs/train-DATE-TIME)"},
      TRAIN_OPTIONS(o),
      JOB_OPTIONS(o, "training"),
  };
  const cli_pos pos[] = {{"SPACE", &o.space, 0, NULL}};
  const cli_cmd c = {
      "parsec-run", "train", "(--run RUN | --genotype G [SPACE]) [options]",
      "Trains one fixed architecture from scratch: the mode of a search run, or a\n"
      "genotype in DARTS's text form or a published one by name (SPACE names its\n"
      "space, default darts).  The evaluation network of the space: affine BN, no\n"
      "BN after pools, an auxiliary head (weight 0.4), drop path scaled by epoch,\n"
      "cutout, SGD with cosine decay to 0, momentum 0.9, weight decay 3e-4, clip 5.",
      opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
      "Writes DIR/log.jsonl (per epoch: train and test loss and accuracy, lr, seconds, memory),\n"
      "DIR/weights.safetensors (tensor names of DARTS's evaluation model's state_dict),\n"
      "DIR/genotype.txt, DIR/cells.dot and DIR/checkpoint.bin (every epoch).",
      EXITS_JOB, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  if (o.resume && !o.out) return cli_usage_error(&c, "--resume needs --out DIR, the training to continue");
  if (!o.resume && !!o.run == !!o.genotype)
    return cli_usage_error(&c, "give the architecture with --run RUN or --genotype G (one of them)");
  if (o.run && o.space) return cli_usage_error(&c, "--run RUN brings its own space; SPACE goes with --genotype");
  o.argc = whole_argc;
  o.argv = whole_argv;
  static char outbuf[512];
  if (!o.out) o.out = default_out(outbuf, sizeof outbuf, "train", NULL);
  err_t e = ERR_INIT;
  return finish("train", rt_train_run(&o, &e), &e);
}

/* ---------- ensemble ---------- */

static int cmd_ensemble(int argc, char **argv) {
  rt_ensemble_opts o = {.members = 4, .pick = "sample"};
  rt_train_opts *t = &o.train;
  t->layers = t->channels = t->epochs = t->batch = t->cutout = t->limit = t->seed = t->image_size = -1;
  t->lr = t->drop_path = t->label_smoothing = NAN;
  t->auxiliary = -1;
  t->device = "auto";
  t->progress = -1;
  const cli_opt opts[] = {
      {"--run", NULL, CLI_STR, &o.run, "RUN", "the search run whose p(alpha | pi) the members come from"},
      {"--members", "-m", CLI_INT, &o.members, "M", "networks in the ensemble (default 4)", 1, 64},
      {"--pick", NULL, CLI_CHOICE, &o.pick, "P",
       "sample: M distinct networks drawn from pi (default); top: the M\nmost probable; mode: M seeds of the mode (a "
       "deep ensemble)", 0, 0, 0, "sample|top|mode"},
      {"--draw-seed", NULL, CLI_INT, &o.seed, "S", "seeds the draws (default 0)", 0, INT_MAX},
      {"--out", NULL, CLI_STR, &o.out, "DIR", "the ensemble's directory (default: runs/ensemble-DATE-TIME)"},
      TRAIN_OPTIONS(o.train),
      {"--threads", NULL, CLI_INT, &t->threads, "T", "CPU threads (default: all cores)", 1, 1024},
      {"--device", NULL, CLI_CHOICE, &t->device, "D", "cpu | cuda | cuda:N | auto (default auto: the GPU when one is usable; cuda:N the GPU numbered N)",
       0, 0, 0, "cpu|cuda|cuda:N|auto"},
      {"--resume", NULL, CLI_FLAG, &o.resume, NULL, "continue the ensemble in --out: its finished members are kept", 0,
       0, 1},
      {"--progress", NULL, CLI_FLAG, &t->progress, NULL, "draw progress even when stderr is not a terminal", 0, 0, 1},
      {"--no-progress", NULL, CLI_FLAG, &t->progress, NULL, "never draw progress", 0, 0, 0},
      {"--quiet", "-q", CLI_FLAG, &t->quiet, NULL, "print errors only", 0, 0, 1},
  };
  const cli_cmd c = {
      "parsec-run", "ensemble", "--run RUN [--members M] [--pick sample|top|mode] [training options]",
      "Trains an ensemble of networks from a search run's p(alpha | pi), each from\n"
      "scratch with the training recipe (as parsec-run train; member K with --seed + K),\n"
      "the mode too when it is no member, and evaluates them together on the test set:\n"
      "the ensemble predicts the mean of its members' softmax.  Distinct means distinct\n"
      "as networks (a node's inputs in another order are the same network).",
      opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0,
      "Writes DIR/member-K/ and DIR/mode/ (training runs, each resumable), DIR/members.txt,\n"
      "DIR/config.json and DIR/log.jsonl: per model (each member, the mode, the ensemble)\n"
      "accuracy, NLL, expected calibration error (15 bins), Brier score and the\n"
      "reliability bins; parsec-run show DIR draws the reliability diagram.",
      EXITS_JOB, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  if (!o.run) return cli_usage_error(&c, "give the search run with --run RUN");
  if (o.resume && !o.out) return cli_usage_error(&c, "--resume needs --out DIR, the ensemble to continue");
  static char outbuf[512];
  if (!o.out) o.out = default_out(outbuf, sizeof outbuf, "ensemble", NULL);
  t->argc = whole_argc;
  t->argv = whole_argv;
  err_t e = ERR_INIT;
  return finish("ensemble", rt_ensemble_run(&o, &e), &e);
}

/* ---------- export ---------- */

static int cmd_export(int argc, char **argv) {
  rt_export_opts o = {0};
  o.target = "c";
  const cli_opt opts[] = {
      {"--run", NULL, CLI_STR, &o.run, "RUN", "a directory written by parsec-run train or ensemble"},
      {"--genotype", NULL, CLI_STR, &o.genotype, "G", "or a genotype (a file, FILE:NAME, a published name) ..."},
      {"--weights", NULL, CLI_STR, &o.weights, "FILE", "... with its weights.safetensors (and SPACE, default darts)"},
      {"--target", NULL, CLI_CHOICE, &o.target, "T",
       "c (C with optional OpenMP), cuda (CUDA with cuBLAS) or onnx\n(model.onnx, opset 17, for onnxruntime and others); default c",
       0, 0, 0, "c|cuda|onnx"},
      {"--out", "-o", CLI_STR, &o.out, "DIR", "the directory to write (it must not exist)"},
  };
  const cli_pos pos[] = {{"SPACE", &o.space, 0, NULL}};
  const cli_cmd c = {
      "parsec-run", "export", "(--run TRAIN_RUN | --genotype G --weights FILE [SPACE]) --target c|cuda|onnx -o DIR",
      "Writes a trained network as standalone sources into DIR (which must not exist):\n"
      "network.c (or network.cu): the kernels generated for this network's shapes and\n"
      "its forward pass; network.h: the API (load weights, normalise images, forward\n"
      "a batch to logits); weights.bin; predict.c, a program that reads IDX, CIFAR-10\n"
      "or .npy images and prints predictions and accuracy; a Makefile; cells.dot.\n"
      "The C sources need a C compiler, libm and zlib; the CUDA ones the CUDA\n"
      "toolkit with cuBLAS.  --target onnx writes DIR/model.onnx instead: input\n"
      "'images' (float32 NCHW, pixels / 255; the normalisation is in the model),\n"
      "output 'logits'; the genotype and the class names in its metadata.\n"
      "An ensemble run (parsec-run ensemble) exports whole: as ONNX, one graph whose\n"
      "output 'probabilities' is the mean of its members' softmax; as C or CUDA,\n"
      "each member's sources in member-K/ and ensemble.c averaging them behind the\n"
      "same network.h.",
      opts, (int)(sizeof opts / sizeof opts[0]), pos, 1, NULL, EXITS_TOOL, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  if (!o.out) return cli_usage_error(&c, "give the output directory with -o DIR");
  if (!!o.run == !!(o.genotype || o.weights) || (!o.run && (!o.genotype || !o.weights)))
    return cli_usage_error(&c, "give --run TRAIN_RUN, or --genotype G with --weights FILE");
  err_t e = ERR_INIT;
  return finish("export", rt_export_run(&o, &e) ? err_status(&e) : 0, &e);
}

/* ---------- sample ---------- */

static int cmd_sample(int argc, char **argv) {
  rt_sample_opts o = {.count = 1, .seed = 0};
  const cli_opt opts[] = {
      {"--run", NULL, CLI_STR, &o.run, "RUN", "draw from a search run's learned distribution"},
      {"--count", "-n", CLI_INT, &o.count, "N", "how many (default 1)", 1, 1000000},
      {"--seed", NULL, CLI_INT, &o.seed, "S", "seeds the draws (default 0)", 0, INT_MAX},
      {"--distinct", NULL, CLI_FLAG, &o.distinct, NULL, "no architecture twice", 0, 0, 1},
  };
  const cli_pos pos[] = {{"SPACE", &o.space, 0, NULL}};
  const cli_cmd c = {"parsec-run", "sample", "(--run RUN | [SPACE]) [--count N] [--seed S] [--distinct]",
                     "Prints architectures, one genotype a line in DARTS's text form: drawn from a\n"
                     "search run's p(alpha | pi), or uniformly from SPACE's categoricals (default\n"
                     "small): the random baseline a search must beat.  Each line is a genotype\n"
                     "that parsec-run train --genotype takes.",
                     opts, (int)(sizeof opts / sizeof opts[0]), pos, 1, NULL, EXITS_TOOL, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  if (o.run && o.space) return cli_usage_error(&c, "--run RUN brings its own space; give SPACE without --run");
  err_t e = ERR_INIT;
  return finish("sample", rt_sample_run(stdout, &o, &e) ? err_status(&e) : 0, &e);
}

static int cmd_genotypes(int argc, char **argv) {
  rt_genotypes_opts o = {0};
  const cli_opt opts[] = {
      {"--space", NULL, CLI_STR, &o.space, "SPACE", "the space to read and count in (default darts)"},
      {"--names", NULL, CLI_FLAG, &o.names, NULL, "the built-in names only, one a line", 0, 0, 1},
  };
  const cli_pos pos[] = {{"G", &o.genotype, 0, NULL}};
  const cli_cmd c = {"parsec-run", "genotypes", "[G] [--space SPACE] [--names]",
                     "Lists the published genotypes parsec knows by name (train --genotype NAME),\n"
                     "with the parameter counts their papers report beside those of the\n"
                     "evaluation network they give in SPACE.  With G (a file, FILE:NAME, a name or\n"
                     "the text Genotype(...)): that genotype read, checked against SPACE and\n"
                     "counted, printed in DARTS's text form.",
                     opts, (int)(sizeof opts / sizeof opts[0]), pos, 1, NULL, EXITS_TOOL, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  err_t e = ERR_INIT;
  return finish("genotypes", rt_genotypes_run(stdout, &o, &e) ? err_status(&e) : 0, &e);
}

/* ---------- show, cache ---------- */

static int cmd_show(int argc, char **argv) {
  const char *run = NULL, *out = NULL;
  int top = 3;
  const cli_opt opts[] = {
      {"--out", "-o", CLI_STR, &out, "DIR", "draw into DIR (made if missing): curves.svg, pi.svg, cells.dot/.svg"},
      {"--top", NULL, CLI_INT, &top, "N", "the N most probable choices per node input (default 3)", 1, 100}};
  const cli_pos pos[] = {{"RUN", &run, 1, NULL}};
  const cli_cmd c = {"parsec-run", "show", "RUN [--out DIR] [--top N]",
                     "Prints how a run (a search, a transfer or a training) was made and what it found,\n"
                     "from its record alone (config.json, log.jsonl, distribution.jsonl, genotype.txt):\n"
                     "for a search, the entropy, the mode's accuracy and the weighted train loss per\n"
                     "epoch, the mode and the N most probable choices of every node input; for a\n"
                     "training, its loss and accuracy per epoch.  It writes nothing into RUN.",
                     opts, 2, pos, 1,
                     "With --out DIR: DIR/curves.svg (a search: entropy, mode accuracy and train loss\n"
                     "per epoch, the paper's figure 3; a training: train and test loss and accuracy),\n"
                     "DIR/pi.svg (a search: pi per node and op over the epochs, as a heat map) and\n"
                     "DIR/cells.dot (and cells.svg with Graphviz).",
                     EXITS_TOOL, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  err_t e = ERR_INIT;
  return finish("show", rt_show_run(stdout, run, out, top, &e) ? err_status(&e) : 0, &e);
}

static int cmd_cache(int argc, char **argv) {
  const char *what = "show";
  const cli_pos pos[] = {{"ACTION", &what, 0, "show|clear"}};
  const cli_cmd c = {"parsec-run", "cache", "[show|clear]",
                     "The compiled kernels live in $PARSEC_CACHE_DIR, else $XDG_CACHE_HOME/parsec,\n"
                     "else ~/.cache/parsec (PARSEC_CACHE=off: a temporary directory per run;\n"
                     "PARSEC_CACHE_MAX_MB caps its size, default 1024).  show: where and how big;\n"
                     "clear: remove every compiled kernel.",
                     NULL, 0, pos, 1, NULL, EXITS_TOOL, PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc, argv, &status)) return status;
  char root[4096];
  err_t e = ERR_INIT;
  long n = 0;
  long long bytes = 0;
  if (rt_cache_root(root, sizeof root, &e) != 0) return finish("cache", err_status(&e), &e);
  if (strcmp(what, "show") == 0) {
    if (rt_cache_usage(root, &n, &bytes, &e) != 0) return finish("cache", err_status(&e), &e);
    printf("kernel cache: %s\n%ld compiled kernels, %.1f MiB\n", root, n, (double)bytes / (1 << 20));
    return 0;
  }
  if (rt_cache_clear(root, &n, &e) != 0) return finish("cache", err_status(&e), &e);
  printf("removed %ld compiled kernels from %s\n", n, root);
  return 0;
}

/* ---------- the commands ---------- */

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *line; /* for the overview */
} command;

static const command commands[] = {
    {"search", cmd_search,
     "search [SPACE] [options]   search a distribution over cells (default: the bundled\n"
     "                             'small' space on Fashion-MNIST, on the CPU)"},
    {"train", cmd_train,
     "train (--run RUN | --genotype G [SPACE]) [options]\n"
     "                             train one architecture from scratch in the evaluation\n"
     "                             network; weights as safetensors with DARTS's names"},
    {"ensemble", cmd_ensemble,
     "ensemble --run RUN [--members M] [options]\n"
     "                             networks drawn from a search's pi, trained and evaluated\n"
     "                             together (accuracy, NLL, calibration)"},
    {"export", cmd_export,
     "export (--run TRAIN_RUN | --genotype G --weights FILE [SPACE]) --target c|cuda|onnx -o DIR\n"
     "                             a trained network as standalone C or CUDA sources"},
    {"sample", cmd_sample,
     "sample (--run RUN | [SPACE]) [--count N]\n"
     "                             architectures drawn from a run's distribution, or uniformly\n"
     "                             from a space (the random baseline)"},
    {"genotypes", cmd_genotypes,
     "genotypes [G]              published genotypes by name, or one genotype checked\n"
     "                             and counted"},
    {"show", cmd_show,
     "show RUN [--out DIR]       how a run was made and what it found (curves, pi over the\n"
     "                             epochs, the cells: SVG with --out)"},
    {"cache", cmd_cache, "cache [show|clear]         the compiled-kernel cache: its place and size, or empty it"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void overview(FILE *f) {
  fprintf(f, "usage: parsec-run COMMAND [ARGS]\n\ncommands:\n");
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %s\n", commands[i].line);
  fprintf(f, "\nparsec-run help COMMAND (or parsec-run COMMAND --help) describes each command;\n"
             "parsec-run --version prints the version.\n");
}

static const command *find_command(const char *name) {
  for (int i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  whole_argc = argc;
  whole_argv = argv;
  if (argc < 2) {
    overview(stderr);
    return ERR_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || (strcmp(cmd, "help") == 0 && argc == 2)) {
    overview(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("parsec-run %s\n", PARSEC_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0) { /* help COMMAND: that command's --help */
    const command *c = find_command(argv[2]);
    if (!c) {
      fprintf(stderr, "parsec-run help: no command '%s'\n\n", argv[2]);
      overview(stderr);
      return ERR_USAGE;
    }
    char *help[] = {"--help"};
    return c->run(1, help);
  }
  const command *c = find_command(cmd);
  if (c && strcmp(cmd, "search") != 0 && strcmp(cmd, "train") != 0 && rt_comm_launched() > 1) {
    fprintf(stderr, "parsec-run %s: launched as one of %d ranks, but only 'search' and 'train' run on several ranks: "
                    "run it without mpirun or srun\n", cmd, rt_comm_launched());
    return ERR_USAGE;
  }
  if (c) return c->run(argc - 2, argv + 2);
  fprintf(stderr, "parsec-run: unknown command '%s'\n\n", cmd);
  overview(stderr);
  return ERR_USAGE;
}
