/* Genotypes as people paste them: every text form DARTS and its successors
 * print, files of named genotypes, the built-in published ones (checked
 * against their papers' parameter counts), and an error that names the
 * place for every malformed text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gt_builtin.h"
#include "gt_genotype.h"
#include "nw_layout.h"

static sp_space SP; /* the DARTS space */

static const char *V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/* A genotypes.py as the DARTS family ships it: imports, PRIMITIVES, a
 * multi-line genotype with comments and trailing commas, one that does not
 * fit this space (five nodes, an unknown op), range concats, aliases. */
static const char *FILE_TEXT =
    "from collections import namedtuple\n"
    "\n"
    "Genotype = namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')\n"
    "\n"
    "PRIMITIVES = [\n    'none',\n    'max_pool_3x3',  # pools\n    'skip_connect',\n]\n"
    "\n"
    "FIVE = Genotype(\n"
    "  normal = [\n    ('sep_conv_5x5', 1),\n    ('sep_conv_7x7', 0),\n  ],\n"
    "  normal_concat = [2, 3, 4, 5, 6],\n"
    "  reduce = [('sep_conv_5x5', 1)],\n"
    "  reduce_concat = [4, 5, 6],\n)\n"
    "\n"
    "MULTI = Genotype(\n"
    "  normal=[\n"
    "    ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),  # node 0\n"
    "    ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),\n"
    "    ('sep_conv_3x3', 1), ('skip_connect', 0),\n"
    "    ('skip_connect', 0), ('dil_conv_3x3', 2),\n"
    "  ],\n"
    "  normal_concat=range(2, 6),\n"
    "  reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),\n"
    "          ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],\n"
    "  reduce_concat=list(range(2, 6)),\n"
    ")\n"
    "SAME = MULTI\n"
    "TWICE = SAME\n"
    "BROKEN = NOWHERE\n";

static int setup(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  return sp_load_example(&SP, "darts", &e);
}

static int teardown(void **state) {
  (void)state;
  sp_free(&SP);
  return 0;
}

static void parse_ok(const char *text, const char *name, gt_genotype *g) {
  err_t e = ERR_INIT;
  if (gt_parse_named(&SP, text, name, g, "genotype.txt", &e) != 0) fail_msg("%s\nfor: %s", err_msg(&e), text);
}

/* TEXT (with NAME) is refused with a message holding each of the NULL-ended needles. */
static void parse_fails(const char *text, const char *name, ...) {
  gt_genotype g;
  err_t e = ERR_INIT;
  if (gt_parse_named(&SP, text, name, &g, "genotype.txt", &e) == 0) fail_msg("accepted: %s", text);
  va_list ap;
  va_start(ap, name);
  for (const char *n; (n = va_arg(ap, const char *)) != NULL;)
    if (!strstr(err_msg(&e), n)) fail_msg("the error lacks '%s':\n%s\nfor: %s", n, err_msg(&e), text);
  va_end(ap);
  err_clear(&e);
}

static void test_forms(void **state) {
  (void)state;
  gt_genotype ref, g;
  parse_ok(V2, NULL, &ref);
  assert_int_equal(ref.prim[1][3][1], sp_prim_index(&SP, "max_pool_3x3"));
  assert_int_equal(ref.pred[0][3][1], 2);
  /* concat as range(2, 6), as model_search.genotype() and PC-DARTS print it */
  char text[4096];
  snprintf(text, sizeof text, "%s", V2);
  char *c = strstr(text, "normal_concat=[2, 3, 4, 5]");
  memcpy(c, "normal_concat=range(2, 6)", 25);
  memmove(c + 25, c + 26, strlen(c + 26) + 1);
  parse_ok(text, NULL, &g);
  assert_true(gt_equal(&ref, &g));
  /* a NAME = Genotype(...) line, as in genotypes.py */
  char line[4200];
  snprintf(line, sizeof line, "DARTS_V2 = %s\n", V2);
  parse_ok(line, NULL, &g);
  assert_true(gt_equal(&ref, &g));
  parse_ok(line, "DARTS_V2", &g);
  assert_true(gt_equal(&ref, &g));
  /* positional fields, tuples for lists, "quotes", our own primitive names */
  const char *pos =
      "Genotype([(\"sep_conv_3x3\", 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('identity', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], (2, 3, 4, 5), "
      "[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
      "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1),], range(2, 6),)";
  parse_ok(pos, NULL, &g);
  assert_true(gt_equal(&ref, &g));
  /* the text we write reads back */
  char *out = gt_to_text(&SP, &ref);
  parse_ok(out, NULL, &g);
  assert_true(gt_equal(&ref, &g));
  assert_null(strstr(out, "identity")); /* DARTS's names, as DARTS's code reads them */
  free(out);
}

static void test_files(void **state) {
  (void)state;
  gt_genotype ref, g;
  parse_ok(V2, NULL, &ref);
  parse_ok(FILE_TEXT, "MULTI", &g);
  assert_true(gt_equal(&ref, &g));
  parse_ok(FILE_TEXT, "TWICE", &g); /* an alias of an alias */
  assert_true(gt_equal(&ref, &g));
  parse_fails(FILE_TEXT, NULL, "holds 5 genotypes", "FIVE, MULTI, SAME, TWICE, BROKEN", "genotype.txt:NAME", NULL);
  parse_fails(FILE_TEXT, "NASNet", "no genotype named 'NASNet'", "FIVE, MULTI", NULL);
  parse_fails(FILE_TEXT, "BROKEN", "'BROKEN' refers to 'NOWHERE'", NULL);
  /* a genotype that does not fit names the place: line 9, the unknown op */
  parse_fails(FILE_TEXT, "FIVE", "genotype.txt:14:6:", "'sep_conv_7x7'", "sep_conv_3x3", NULL);
  char names[256];
  err_t e = ERR_INIT;
  assert_int_equal(gt_list_names(FILE_TEXT, "f", names, sizeof names, &e), 5);
  assert_string_equal(names, "FIVE, MULTI, SAME, TWICE, BROKEN");
  /* a later definition wins, as in Python */
  char twice[9000];
  snprintf(twice, sizeof twice, "A = %s\nA = Genotype(normal=[], reduce=[])\n", V2);
  parse_fails(twice, "A", "genotype.txt:2:", "has 0 pairs", NULL);
}

/* Every built-in parses in the DARTS space, and its evaluation network
 * (C 36, 20 cells, without the auxiliary head, as the papers count) has the
 * published number of parameters to the published precision. */
static void test_builtins(void **state) {
  (void)state;
  int checked = 0;
  for (int i = 0; gt_builtin_at(i); i++) {
    const gt_builtin *b = gt_builtin_find(gt_builtin_at(i)->name);
    assert_non_null(b);
    gt_genotype g;
    err_t e = ERR_INIT;
    char label[512];
    if (gt_resolve(&SP, gt_builtin_at(i)->name, &g, label, sizeof label, &e) != 0) fail_msg("%s", err_msg(&e));
    assert_non_null(strstr(label, "built-in"));
    if (b->cifar_m <= 0 || gt_builtin_at(i)->alias_of) continue;
    nw_layout lay;
    sp_net net = SP.eval_net;
    assert_int_equal(net.channels, 36);
    assert_int_equal(net.cells, 20);
    if (nw_eval_layout(&lay, &SP, &net, &g, &e) != 0) fail_msg("%s", err_msg(&e));
    double m = (double)nw_param_count_main(&lay) / 1e6;
    printf("%-16s %.6f M parameters (published %.1f M)%s%s\n", b->name, m, b->cifar_m, b->note ? ": " : "",
           b->note ? b->note : "");
    assert_int_equal(nw_param_count_main(&lay), b->cifar_count);
    /* the published figure to its precision, unless the table says why not */
    assert_true(b->note || (m >= b->cifar_m - 0.05 && m < b->cifar_m + 0.05));
    nw_free(&lay);
    checked++;
  }
  assert_int_equal(checked, 4); /* DARTS_V1, DARTS_V2, PC_DARTS_cifar, PDARTS */
  assert_ptr_equal(gt_builtin_find("DARTS"), gt_builtin_find("DARTS_V2"));
  assert_null(gt_builtin_find("darts_v2"));
}

static void test_resolve(void **state) {
  (void)state;
  gt_genotype ref, g;
  parse_ok(V2, NULL, &ref);
  char dir[] = "/tmp/parsec-gtXXXXXX", path[128], spec[160], label[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/genotypes.py", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(FILE_TEXT, f);
  fclose(f);
  err_t e = ERR_INIT;
  snprintf(spec, sizeof spec, "%s:SAME", path);
  if (gt_resolve(&SP, spec, &g, label, sizeof label, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_true(gt_equal(&ref, &g));
  assert_string_equal(label, spec);
  if (gt_resolve(&SP, spec, &g, NULL, 0, &e) != 0) fail_msg("without a label: %s", err_msg(&e));
  assert_int_equal(gt_resolve(&SP, path, &g, NULL, 0, &e), -1); /* five genotypes: which one? */
  assert_non_null(strstr(err_msg(&e), ":NAME"));
  assert_int_equal(gt_resolve(&SP, V2, &g, NULL, 0, &e), 0); /* the text itself */
  assert_true(gt_equal(&ref, &g));
  assert_int_equal(gt_resolve(&SP, "DARTS_V3", &g, NULL, 0, &e), -1);
  assert_non_null(strstr(err_msg(&e), "DARTS_V3: no such file"));
  assert_non_null(strstr(err_msg(&e), "PC_DARTS_cifar"));
  err_clear(&e);
  unlink(path);
  rmdir(dir);
}

/* Each malformation is refused with the line:column and what was expected. */
static void test_errors(void **state) {
  (void)state;
  parse_fails("", NULL, "1:1: expected a genotype in DARTS's form", "found the end of the text", NULL);
  parse_fails("Genotype", NULL, "genotype.txt:1:9: expected Genotype(", NULL);
  parse_fails("Genotype(normal=[('sep_conv_3x3', 0)]", NULL, "has 1 pairs; this space needs 8", NULL);
  parse_fails("Genotype(normal=[('conv_9x9', 0)])", NULL, "1:19: the normal cell uses the operation 'conv_9x9'", NULL);
  parse_fails("Genotype(normal=[('sep_conv_3x3', 2)])", NULL, "1:35: node 0 of the normal cell reads input 2", NULL);
  parse_fails("Genotype(normal=[('sep_conv_3x3' 0)])", NULL, "1:34: expected ',' and the input number, found '0'",
              NULL);
  parse_fails("Genotype(normal=[('sep_conv_3x3, 0)])", NULL, "1:19: a string that never ends", NULL);
  parse_fails("Genotype(norm=[])", NULL, "unknown field 'norm'", NULL);
  parse_fails("Genotype(normal=[], normal=[])", NULL, "has 0 pairs", NULL);
  char text[4096];
  snprintf(text, sizeof text, "%s", V2);
  memcpy(strstr(text, "normal_concat=[2, 3, 4, 5]"), "normal_concat=[2, 3, 4, 6]", 26);
  parse_fails(text, NULL, "normal_concat must be range(2, 6)", NULL);
  snprintf(text, sizeof text, "%s", V2);
  *strstr(text, ", reduce=") = ')';
  parse_fails(text, NULL, "1:213: the genotype lacks reduce=[...]", NULL);
  snprintf(text, sizeof text, "%s extra", V2);
  parse_fails(text, NULL, "expected the end of the text after the genotype, found 'extra'", NULL);
  snprintf(text, sizeof text, "Genotype(normal=[('sep_conv_3x3', 99999999999)])");
  parse_fails(text, NULL, "1:35: the number '99999999999' is out of range", NULL);
  snprintf(text, sizeof text, "%s\n\nDARTS = 1", V2);
  parse_fails(text, NULL, "3:1: expected the end of the text", NULL);
  /* every cut of a valid text is refused, with a place in the message */
  for (size_t cut = 0; cut < strlen(V2); cut++) {
    snprintf(text, sizeof text, "%.*s", (int)cut, V2);
    gt_genotype g;
    err_t e = ERR_INIT;
    if (gt_parse(&SP, text, &g, "genotype.txt", &e) == 0) fail_msg("a cut at %zu was accepted", cut);
    if (cut > 0 && !strstr(err_msg(&e), "genotype.txt:1:"))
      fail_msg("a cut at %zu: the error has no place: %s", cut, err_msg(&e));
    err_clear(&e);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms),   cmocka_unit_test(test_files),  cmocka_unit_test(test_builtins),
      cmocka_unit_test(test_resolve), cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
