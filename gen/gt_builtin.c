#include "gt_builtin.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DARTS_REPO "github.com/quark0/darts cnn/genotypes.py"
#define PC_REPO "github.com/yuhuixu1993/PC-DARTS genotypes.py"
#define P_REPO "github.com/chenxin061/pdarts genotypes.py"

static const gt_builtin TABLE[] = {
    {"DARTS_V1", NULL,
     "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
     "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
     "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
     "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
     DARTS_REPO " (DARTS, first order)", 3.3, 3169414, 0,
     "DARTS's paper gives 3.3 M for first-order DARTS; the genotype its code ships counts 3.17 M"},
    {"DARTS_V2", NULL,
     "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
     "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
     "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
     "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
     DARTS_REPO " (DARTS, second order)", 3.3, 3349342, 4.7, NULL},
    {"DARTS", "DARTS_V2", NULL, DARTS_REPO, 0, 0, 0, NULL},
    {"PC_DARTS_cifar", NULL,
     "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
     "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
     "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
     "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))",
     PC_REPO " (PC-DARTS, searched on CIFAR-10)", 3.6, 3634678, 0, NULL},
    {"PCDARTS", "PC_DARTS_cifar", NULL, PC_REPO, 0, 0, 0, NULL},
    {"PC_DARTS_image", NULL,
     "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1), "
     "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
     "reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), ('sep_conv_3x3', 2), "
     "('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)], reduce_concat=range(2, 6))",
     PC_REPO " (PC-DARTS, searched on ImageNet)", 0, 0, 5.3, NULL},
    {"PDARTS", NULL,
     "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
     "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
     "reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
     "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))",
     P_REPO " (P-DARTS, searched on CIFAR-10)", 3.4, 3433798, 4.9, NULL},
};

#define N_BUILTIN ((int)(sizeof TABLE / sizeof TABLE[0]))

const gt_builtin *gt_builtin_at(int i) { return i >= 0 && i < N_BUILTIN ? &TABLE[i] : NULL; }

const gt_builtin *gt_builtin_find(const char *name) {
  for (int i = 0; i < N_BUILTIN; i++)
    if (strcmp(TABLE[i].name, name) == 0) return TABLE[i].alias_of ? gt_builtin_find(TABLE[i].alias_of) : &TABLE[i];
  return NULL;
}

const char *gt_builtin_names(void) {
  static char names[512];
  size_t o = 0;
  for (int i = 0; i < N_BUILTIN && o < sizeof names; i++)
    o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", TABLE[i].name);
  return names;
}
