/* The space language: the sandbox, validation, and the IR of each example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gt_genotype.h"
#include "nw_layout.h"
#include "sp_json.h"
#include "sp_space.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Loads TEXT as "test.lua" and expects failure with every NEEDLE in the message. */
static void expect_error(const char *text, const char *needle1, const char *needle2) {
  sp_space sp;
  err_t e = ERR_INIT;
  int rc = sp_load_string(&sp, "test.lua", text, &e);
  if (rc == 0) {
    sp_free(&sp);
    fail_msg("expected an error containing '%s' for:\n%s", needle1, text);
  }
  char m[4096];
  snprintf(m, sizeof m, "%s", err_msg(&e));
  err_clear(&e);
  if (!strstr(m, needle1) || (needle2 && !strstr(m, needle2)))
    fail_msg("error message lacks '%s'/'%s':\n%s", needle1, needle2 ? needle2 : "", m);
}

static void load_ok(sp_space *sp, const char *text) {
  err_t e = ERR_INIT;
  if (sp_load_string(sp, "test.lua", text, &e) != 0) fail_msg("unexpected error: %s", err_msg(&e));
}

static size_t params_of(const sp_space *sp) {
  nw_layout lay;
  err_t e = ERR_INIT;
  assert_int_equal(nw_search_layout(&lay, sp, &sp->net, &e), 0);
  size_t n = nw_param_count(&lay);
  nw_free(&lay);
  return n;
}

static void test_darts_ir(void **state) {
  (void)state;
  sp_space sp;
  err_t e = ERR_INIT;
  assert_int_equal(sp_load_example(&sp, "darts", &e), 0);
  assert_int_equal(sp.nprims, 7);
  const char *names[7] = {"identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3",
                          "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};
  for (int i = 0; i < 7; i++) assert_string_equal(sp.prims[i].name, names[i]);
  assert_string_equal(sp.prims[0].darts_name, "skip_connect");
  assert_int_equal(sp.nodes, 4);
  assert_int_equal(sp.inputs, 2);
  int sizes[4] = {14, 21, 28, 35};
  for (int n = 0; n < 4; n++) assert_int_equal(sp_cat_size(&sp, n), sizes[n]);
  assert_int_equal(sp.net.nreductions, 2);
  assert_int_equal(sp.net.reductions[0], 2);
  assert_int_equal(sp.net.reductions[1], 5);
  assert_int_equal(sp.net.channels, 16);
  assert_int_equal(sp.net.cells, 8);
  assert_int_equal(sp.net.input_channels, 3);
  assert_int_equal(sp.net.input_size, 32);
  assert_int_equal(sp.search.samples, 16);
  assert_int_equal(sp.search.epochs, 100);
  assert_int_equal(sp.search.batch, 64);
  /* sep_conv_3x3 at stride 2: relu, dw conv /2, 1x1, bn, relu, dw conv, 1x1, bn */
  const sp_prim *sep = &sp.prims[3];
  assert_int_equal(sep->nlayers[1], 8);
  assert_int_equal(sep->layers[1][1].kind, SP_CONV);
  assert_int_equal(sep->layers[1][1].groups, 0);
  assert_int_equal(sep->layers[1][1].sh, 2);
  assert_int_equal(sep->layers[1][5].sh, 1);
  /* dil_conv_5x5: pad 4, dilation 2 */
  assert_int_equal(sp.prims[6].layers[0][1].ph, 4);
  assert_int_equal(sp.prims[6].layers[0][1].dh, 2);
  /* identity at stride 2 is a factorized reduce */
  assert_int_equal(sp.prims[0].layers[0][0].kind, SP_IDENTITY);
  assert_int_equal(sp.prims[0].layers[1][0].kind, SP_FACTORIZED_REDUCE);
  /* pools are followed by a search-only non-affine BN */
  assert_int_equal(sp.prims[2].layers[0][1].kind, SP_BN);
  assert_true(sp.prims[2].layers[0][1].search_only);
  assert_int_equal(sp.prims[2].layers[0][1].affine, SP_AFFINE_NEVER);
  /* the check value of DESIGN.md */
  assert_int_equal(params_of(&sp), 1930618);
  assert_true(sp_log10_cell_space(&sp) > 10.91 && sp_log10_cell_space(&sp) < 10.93); /* 8.30e10 */
  sp_free(&sp);
}

static void test_small_ir(void **state) {
  (void)state;
  sp_space sp;
  err_t e = ERR_INIT;
  assert_int_equal(sp_load_example(&sp, "small", &e), 0);
  assert_int_equal(sp.nprims, 7);
  assert_int_equal(sp.net.input_channels, 1);
  assert_int_equal(sp.net.input_size, 28);
  assert_int_equal(sp.net.channels, 8);
  assert_int_equal(sp.net.cells, 5);
  assert_int_equal(sp.net.reductions[0], 1);
  assert_int_equal(sp.net.reductions[1], 3);
  assert_string_equal(sp.search.data, "fashion-mnist");
  assert_int_equal(params_of(&sp), 393778);
  sp_cell_shape sh[5];
  sp_cell_shapes(&sp.net, sp.nodes, sh);
  assert_int_equal(sh[1].h_out, 14);
  assert_int_equal(sh[3].h_out, 7);
  sp_free(&sp);
}

static void test_custom_op_ir(void **state) {
  (void)state;
  sp_space sp;
  err_t e = ERR_INIT;
  if (sp_load_example(&sp, "custom_op", &e) != 0) fail_msg("%s", err_msg(&e));
  assert_int_equal(sp.nodes, 3);
  assert_int_equal(sp.nprims, 7);
  assert_int_equal(sp_prim_index(&sp, "conv_7x1_1x7"), 6);
  assert_int_equal(sp_prim_index(&sp, "sep_conv_5x5"), -1);
  const sp_prim *p = &sp.prims[6];
  assert_int_equal(p->layers[1][1].kh, 1);
  assert_int_equal(p->layers[1][1].kw, 7);
  assert_int_equal(p->layers[1][1].sw, 2);
  assert_int_equal(p->layers[1][1].sh, 1);
  assert_int_equal(sp.net.nreductions, 1);
  assert_int_equal(sp.net.reductions[0], 2);
  sp_free(&sp);
}

/* DARTS's NetworkImageNet (the paper's section 4.3): DARTS_V2 at C 48, 14
   cells, 1000 classes has DARTS's 4,718,752 parameters without the
   auxiliary head; stems to 56x56 and 28x28, the first cell after a
   reduction, reductions at 4 and 9, 7x7 at the end; DARTS's recipe */
static void test_darts_imagenet_ir(void **state) {
  (void)state;
  sp_space sp;
  err_t e = ERR_INIT;
  if (sp_load_example(&sp, "darts_imagenet", &e) != 0) fail_msg("%s", err_msg(&e));
  const sp_net *n = &sp.eval_net;
  assert_true(n->imagenet_stem && n->input_channels == 3 && n->input_size == 224 && n->classes == 1000);
  assert_true(n->cells == 14 && n->channels == 48 && n->nreductions == 2 && n->reductions[0] == 4 &&
              n->reductions[1] == 9 && n->auxiliary && n->drop_path == 0 && n->label_smoothing == 0.1);
  assert_true(!sp.net.imagenet_stem && sp.net.input_size == 32 && sp.net.classes == 10); /* the search's: darts's */
  assert_true(sp.train.lr == 0.1 && sp.train.lr_decay == 0.97 && sp.train.weight_decay == 3e-5 &&
              sp.train.batch == 128 && sp.train.epochs == 250 && sp.train.cutout == 0);
  assert_string_equal(sp.train.augment, "imagenet");
  assert_string_equal(sp.search.augment, "auto");
  if (sp_validate_net(&sp, n, "evaluation network", &e) != 0) fail_msg("%s", err_msg(&e));
  sp_cell_shape sh[14];
  sp_cell_shapes(n, sp.nodes, sh);
  assert_true(sh[0].h_in0 == 56 && sh[0].h_in == 28 && sh[0].reduction_prev && sh[0].c_prev_prev == 48 &&
              sh[0].c_prev == 48);
  assert_true(sh[4].reduction && sh[4].h_out == 14 && sh[9].reduction && sh[13].h_out == 7);
  gt_genotype g;
  const char *v2 =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  if (gt_parse(&sp, v2, &g, "DARTS_V2", &e) != 0) fail_msg("%s", err_msg(&e));
  nw_layout lay;
  if (nw_eval_layout(&lay, &sp, n, &g, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_int_equal(nw_param_count_main(&lay), 4718752);
  nw_free(&lay);
  sp_free(&sp);
  /* the language: a stem it does not know, an evaluation input of its own */
  expect_error("return space{evaluation = {stem = 'resnet'}}\n", "'stem' must be \"darts\" or \"imagenet\"", NULL);
  expect_error("return space{evaluation = {input = 3}}\n", "'input' must be a table", NULL);
  expect_error("return space{evaluation = {lr_decay = 1.5}}\n", "lr_decay", NULL);
  expect_error("return space{search = {augment = 'rotate'}}\n", "'augment' must be \"auto\"", "\"rotate\"");
}

static void test_json_roundtrip(void **state) {
  (void)state;
  const char *names[4] = {"darts", "small", "custom_op", "darts_imagenet"};
  for (int k = 0; k < 4; k++) {
    sp_space a, b;
    err_t e = ERR_INIT;
    assert_int_equal(sp_load_example(&a, names[k], &e), 0);
    char *j1 = sp_to_json(&a);
    if (sp_from_json(&b, j1, "mem", &e) != 0) fail_msg("%s", err_msg(&e));
    char *j2 = sp_to_json(&b);
    assert_string_equal(j1, j2);
    assert_int_equal(params_of(&a), params_of(&b));
    free(j1);
    free(j2);
    sp_free(&a);
    sp_free(&b);
  }
}

static void test_json_version_refused(void **state) {
  (void)state;
  sp_space a, b;
  err_t e = ERR_INIT;
  assert_int_equal(sp_load_example(&a, "small", &e), 0);
  char *j = sp_to_json(&a);
  char *v = strstr(j, "\"version\":\t1");
  assert_non_null(v);
  v[strlen("\"version\":\t")] = '9';
  assert_int_equal(sp_from_json(&b, j, "x.json", &e), -1);
  assert_non_null(strstr(err_msg(&e), "version 9"));
  err_clear(&e);
  assert_int_equal(sp_from_json(&b, "{\"format\": \"other\"}", "x.json", &e), -1);
  assert_non_null(strstr(err_msg(&e), "not a compiled parsec space"));
  err_clear(&e);
  free(j);
  sp_free(&a);
}

/* A short file is a full space: defaults fill in the DARTS primitives and network. */
static void test_minimal_space(void **state) {
  (void)state;
  sp_space sp;
  load_ok(&sp, "return space{}");
  assert_int_equal(sp.nprims, 7);
  assert_int_equal(sp.nodes, 4);
  assert_int_equal(sp.net.cells, 8);
  assert_int_equal(sp.eval_net.cells, 20);
  assert_int_equal(sp.eval_net.channels, 36);
  assert_true(sp.eval_net.auxiliary);
  assert_int_equal(sp.eval_net.reductions[0], 6);
  assert_int_equal(sp.eval_net.reductions[1], 13);
  sp_free(&sp);
}

/* Lua is the point: loops and functions compute the space. */
static void test_computed_space(void **state) {
  (void)state;
  sp_space sp;
  load_ok(&sp,
          "local prims = {}\n"
          "for _, k in ipairs{3, 5, 7} do\n"
          "  prims[#prims+1] = primitive{name = 'conv' .. k, layers = function(s)\n"
          "    return {relu(), conv{kernel = k, stride = s, padding = k // 2, groups = 'depthwise'}, bn()} end}\n"
          "end\n"
          "return space{primitives = prims, cell = {nodes = 2},\n"
          "  network = {input = {channels = 1, size = 16}, channels = 4, cells = 6,\n"
          "             reductions = function(n) return {1, n - 2} end}}\n");
  assert_int_equal(sp.nprims, 3);
  assert_int_equal(sp.nodes, 2);
  assert_int_equal(sp.net.reductions[0], 1);
  assert_int_equal(sp.net.reductions[1], 4);
  assert_int_equal(sp.prims[2].layers[1][1].kh, 7);
  sp_free(&sp);
}

static void test_syntax_error(void **state) {
  (void)state;
  expect_error("return space{\n  name = 'x'\n  cell = {}\n}\n", "test.lua:3:", "'}' expected");
}

static void test_unknown_key_suggests(void **state) {
  (void)state;
  expect_error("local c = conv{kernal = 3}\nreturn space{}\n", "test.lua:1:", "did you mean 'kernel'");
  expect_error("return space{netwrok = {}}\n", "test.lua:1:", "did you mean 'network'");
  expect_error("return space{network = {celss = 3}}\n", "space.network", "did you mean 'cells'");
  expect_error("return space{search = {sampels = 3}}\n", "space.search", "did you mean 'samples'");
  expect_error("local x = bn{afine = true}\nreturn space{}\n", "test.lua:1:", "did you mean 'affine'");
}

static void test_wrong_type(void **state) {
  (void)state;
  expect_error("return space{network = {channels = 'many'}}\n", "'channels' must be an integer", "\"many\"");
  expect_error("\n\nlocal c = conv{kernel = 2.5}\nreturn space{}", "test.lua:3:", "'kernel' must be an integer");
  expect_error("return space{search = {lr = {}}}\n", "test.lua:1:", "'lr' must be a number");
  expect_error("return space{network = {auxiliary = 1}}\n", "'auxiliary' must be true or false", NULL);
  expect_error("return 42\n", "must end with `return space{...}`", NULL);
}

static void test_out_of_range(void **state) {
  (void)state;
  expect_error("return space{cell = {nodes = 0}}\n", "'nodes' must be at least 1", NULL);
  expect_error("return space{network = {cells = 0}}\n", "'cells' must be at least 1", NULL);
  expect_error("return space{network = {reductions = {9}}}\n", "reduction cell 9 is out of range", NULL);
  expect_error("return space{evaluation = {label_smoothing = 1}}\n",
               "space.evaluation: 'label_smoothing' must lie in [0, 0.99]", NULL);
  /* a kernel larger than a 3x3 input */
  expect_error("return space{primitives = {primitive{name = 'big', layers = function(s)\n"
               "  return conv{kernel = 9, stride = s, padding = 0} end}},\n"
               "  network = {input = {channels = 1, size = 3}, cells = 1, reductions = {}}}\n",
               "test.lua:2:", "larger than its 3x3 input");
  /* factorized reduce needs an even channel count */
  expect_error("return space{primitives = {primitive{name = 'fr', layers = function(s)\n"
               "  return factorized_reduce() end}},\n"
               "  network = {channels = 9, cells = 1, reductions = {}}}\n",
               "test.lua:2:", "needs an even channel count");
  /* a primitive whose stride-2 form does not halve the map */
  expect_error("return space{primitives = {primitive{name = 'flat', layers = function(s)\n"
               "  return conv{kernel = 3, padding = 1} end}},\n"
               "  network = {cells = 3}}\n",
               "primitive 'flat' at stride 2", "needs 16x16");
}

static void test_undefined_primitive(void **state) {
  (void)state;
  expect_error("return space{cell = {primitives = {'sep_conv_3x3', 'sep_conv_9x9'}}}\n",
               "primitive 'sep_conv_9x9' is used but not defined", "did you mean");
}

static void test_no_files_or_processes(void **state) {
  (void)state;
  expect_error("os.execute('touch /tmp/parsec_pwned')\nreturn space{}\n", "test.lua:1:", "'os' is not available");
  expect_error("local f = io.open('/etc/passwd')\nreturn space{}\n", "test.lua:1:", "'io' is not available");
  expect_error("local m = require('os')\nreturn space{}\n", "'require' is not available", NULL);
  expect_error("local f = load('return 1')\nreturn space{}\n", "'load' is not available", NULL);
  expect_error("local f = dofile('/etc/passwd')\nreturn space{}\n", "'dofile' is not available", NULL);
  expect_error("local d = debug.getinfo(1)\nreturn space{}\n", "'debug' is not available", NULL);
  expect_error("local d = string.dump(print)\nreturn space{}\n", "test.lua:1:", NULL);
  expect_error("local d = ('x').dump\nreturn d()\n", "test.lua:2:", NULL);
  expect_error("return space{name = prnt}\n", "unknown name 'prnt'", "did you mean 'print'");
  /* the file must not exist afterwards */
  FILE *f = fopen("/tmp/parsec_pwned", "r");
  assert_null(f);
}

static void test_binary_chunk_refused(void **state) {
  (void)state;
  expect_error("\x1bLua\x54\x00 junk", "binary", NULL);
}

/* Each runaway is stopped by its own limit, whatever the machine's speed:
 * the messages say which (an endless loop by the deadline or the
 * instruction budget, a recursion by the depth bound long before either, a
 * hog by the memory cap). */
static void test_runaway_loop_stopped(void **state) {
  (void)state;
  expect_error("while true do end\n", "test.lua:1:", "endless loop");
  expect_error("local function f() return f() + 1 end\nreturn f()\n", "stack overflow", NULL);
  expect_error("local t = {}\nwhile true do t[#t+1] = string.rep('x', 48 << 20) end\n", "256 MiB", NULL);
}

/* What a space file returns is checked whole, and cannot be changed or
 * forged after the prelude checked it. */
static void test_a_built_space_is_read_only(void **state) {
  (void)state;
  expect_error("local s = space{}\ns.network.channels = 0\nreturn s\n", "test.lua:2:",
               "read-only once space{...} has built it (setting 'channels')");
  expect_error("local s = import 'darts'\ns.search.chanels = 3\nreturn s\n", "test.lua:2:", "read-only");
  expect_error("local s = space{}\nreturn setmetatable({}, getmetatable(s))\n", "test.lua", NULL);
  expect_error("local l = relu()\nsetmetatable(l, nil)\nreturn space{}\n", "protected metatable", NULL);
  /* a forged space: any table tagged by hand is just a table, checked as one */
  expect_error("return setmetatable({network = {channels = 0}}, {__index = function() return 0 end})\n", "test.lua",
               NULL);
}

/* The sandbox's limits hold against a file that tries to outlast them:
 * catching the limit's error, finalisers run at close, and patterns whose
 * matching runs in C where no hook can stop it. */
static void test_limits_cannot_be_escaped(void **state) {
  (void)state;
  const char *ran = "the space file ran";
  expect_error("for i = 1, 1e9 do pcall(function() while true do end end) end\nreturn space{}\n", ran, NULL);
  expect_error("while true do xpcall(function() while true do end end, function() end) end\n", ran, NULL);
  expect_error("local ok = pcall(function() while true do end end)\nreturn space{}\n", ran, NULL);
  expect_error("setmetatable({}, {__gc = function() while true do end end})\nreturn space{}\n",
               "__gc, __close and __mode are not available", NULL);
  expect_error("return string.find(string.rep('a', 40), string.rep('a*', 40) .. 'b')\n",
               "patterns in a space file may repeat at most 2 items", NULL);
  expect_error("return (string.rep('a', 40)):match(string.rep('a*', 40) .. 'b')\n", "may repeat at most 2", NULL);
  expect_error("return ('x'):dump()\n", "test.lua:1:", NULL);
  /* NaN passes every comparison: each number is checked finite first */
  expect_error("return space{search = {temperature = 0/0}}\n", "test.lua:1:", "'temperature' must be a finite number");
  expect_error("return space{search = {lr = math.huge}}\n", "test.lua:1:", "'lr' must be a finite number");
  expect_error("return space{network = {cells = math.huge}}\n", "test.lua:1:", "'cells' must be an integer");
  sp_space sp; /* plain finds and simple patterns still work */
  load_ok(&sp, "assert(('a.b'):find('.', 1, true) == 2 and ('ab12'):match('%d+') == '12')\nreturn space{}\n");
  sp_free(&sp);
}

static void test_error_traceback_names_user_frames(void **state) {
  (void)state;
  expect_error("local function mk(s)\n  return conv{kernel = 3, strid = s}\nend\n"
               "return space{primitives = {primitive{name = 'p', layers = mk}}}\n",
               "test.lua:2:", "did you mean 'stride'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_darts_ir),
      cmocka_unit_test(test_small_ir),
      cmocka_unit_test(test_custom_op_ir),
      cmocka_unit_test(test_darts_imagenet_ir),
      cmocka_unit_test(test_json_roundtrip),
      cmocka_unit_test(test_json_version_refused),
      cmocka_unit_test(test_minimal_space),
      cmocka_unit_test(test_computed_space),
      cmocka_unit_test(test_syntax_error),
      cmocka_unit_test(test_unknown_key_suggests),
      cmocka_unit_test(test_wrong_type),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_undefined_primitive),
      cmocka_unit_test(test_no_files_or_processes),
      cmocka_unit_test(test_binary_chunk_refused),
      cmocka_unit_test(test_runaway_loop_stopped),
      cmocka_unit_test(test_error_traceback_names_user_frames),
      cmocka_unit_test(test_a_built_space_is_read_only),
      cmocka_unit_test(test_limits_cannot_be_escaped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
