/* Published genotypes of the DARTS search space, by the names their
 * authors' genotypes.py files give them, with the parameter counts their
 * papers report for the evaluation networks. */
#ifndef PARSEC_GT_BUILTIN_H
#define PARSEC_GT_BUILTIN_H

typedef struct {
  const char *name;
  const char *alias_of; /* another entry's name, or NULL */
  const char *text;     /* DARTS's text form, as published */
  const char *source;   /* the repository file it comes from */
  double cifar_m;       /* published parameters (millions) at C 36, 20 cells on CIFAR-10; 0: none */
  long cifar_count;     /* the same counted in the evaluation network (without the auxiliary head) */
  double imagenet_m;    /* published parameters of the ImageNet mobile network (C 48, 14 cells); 0: none */
  const char *note;     /* where the published figure and the released genotype disagree, or NULL */
} gt_builtin;

/* The entry called NAME (an alias answers with its target), or NULL. */
const gt_builtin *gt_builtin_find(const char *name);
/* The I-th entry (aliases included), or NULL past the end. */
const gt_builtin *gt_builtin_at(int i);
/* The names, comma-separated (for messages and listings). */
const char *gt_builtin_names(void);

#endif
