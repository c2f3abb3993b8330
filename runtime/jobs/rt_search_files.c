/* What a search writes and reads back: its outputs each epoch, its log
 * line, its checkpoints, and its record (config.json, pi's history). */
#include "rt_search_state.h"
#include "io.h"
#include "rt_ckpt.h"
#include "rt_record.h"
#include "rt_safetensors.h"
#include "sha.h"
#include "sp_json.h"

#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET(f) offsetof(settings, f)
#define OPT(f) offsetof(rt_search_opts, f)
const rt_field rt_search_fields[] = {
    {"data", RT_FIELD_STR, SET(data), OPT(data)},
    {"epochs", RT_FIELD_INT, SET(epochs), OPT(epochs), 0, 1, 1000000},
    {"samples", RT_FIELD_INT, SET(samples), OPT(samples), 0, 1, 256},
    {"batch", RT_FIELD_INT, SET(batch), OPT(batch), 0, 1, 4096},
    {"limit", RT_FIELD_INT, SET(limit), OPT(limit), 0, 0, 2147483647},
    {"seed", RT_FIELD_INT, SET(seed), OPT(seed), 0, 0, 2147483647},
    {"temperature", RT_FIELD_NUM, SET(temperature), OPT(temperature), 0, 1e-6, 1000000},
    {"split", RT_FIELD_NUM, SET(split), OPT(split), 0, 0.01, 0.99},
    {"arch_lr", RT_FIELD_NUM, SET(arch_lr), OPT(arch_lr), 0, 0, 1000},
    {"lr", RT_FIELD_NUM, SET(lr), RT_NO_OPTION, 0, 0, 1000},
    {"lr_min", RT_FIELD_NUM, SET(lr_min), RT_NO_OPTION, 0, 0, 1000},
    {"momentum", RT_FIELD_NUM, SET(momentum), RT_NO_OPTION, 0, 0, 1},
    {"weight_decay", RT_FIELD_NUM, SET(weight_decay), RT_NO_OPTION, 0, 0, 1000},
    {"grad_clip", RT_FIELD_NUM, SET(grad_clip), RT_NO_OPTION, 0, 0, 1000000000},
    {"arch_beta1", RT_FIELD_NUM, SET(beta1), RT_NO_OPTION, 0, 0, 0.999999},
    {"arch_beta2", RT_FIELD_NUM, SET(beta2), RT_NO_OPTION, 0, 0, 0.999999999},
    {"init_from", RT_FIELD_STR, SET(init_from), OPT(init_from)},
    {"warmup", RT_FIELD_INT, SET(warmup), OPT(warmup), 1, 0, 1000000},
    {"uniform_weights", RT_FIELD_INT, SET(uniform_weights), OPT(uniform_weights), 1, 0, 1, "--uniform-weights"},
    {"temperature_end", RT_FIELD_NUM, SET(temperature_end), OPT(temperature_end), 1, 0, 1000000},
    {"augment", RT_FIELD_STR, SET(augment), OPT(augment), 1},
    {"image_size", RT_FIELD_INT, SET(image_size), OPT(image_size), 1, 0, 4096},
    {"mean", RT_FIELD_STR, SET(mean), OPT(mean), 1},
    {"std", RT_FIELD_STR, SET(std), OPT(std), 1},
};
const int rt_search_nfields = (int)(sizeof rt_search_fields / sizeof rt_search_fields[0]);

/* ---------- outputs ---------- */

/* The shared weights as RUN/weights.safetensors, a tensor per parameter
 * named by cell, node, input and op (cells.3.nodes.1.inputs.0.sep_conv_3x3.1.weight),
 * the BN statistics beside them: loadable without parsec. */
static int write_weights(search *s, err_t *e) {
  if (s->b->elem != sizeof(float)) return 0;
  size_t pb = s->lay.nparams * sizeof(float), sb = s->lay.nstats * sizeof(float);
  float *params = malloc(pb ? pb : 1), *stats = malloc(sb ? sb : 1);
  int rc = params && stats ? 0 : err_set(e, "out of memory");
  if (rc == 0)
    rc = rt_model_get(&s->m, params, s->m.params, pb, e) || (sb && rt_model_get(&s->m, stats, s->m.stats, sb, e));
  char epoch[32], cells[32], chans[32], path[4200], mean[256] = "", std[256] = "";
  snprintf(epoch, sizeof epoch, "%d", s->epoch + 1);
  snprintf(cells, sizeof cells, "%d", s->net->cells);
  snprintf(chans, sizeof chans, "%d", s->net->channels);
  for (int c = 0; c < s->data.c && c < 8; c++) {
    snprintf(mean + strlen(mean), sizeof mean - strlen(mean), "%s%.9g", c ? "," : "", s->mean[c]);
    snprintf(std + strlen(std), sizeof std - strlen(std), "%s%.9g", c ? "," : "", s->std[c]);
  }
  snprintf(path, sizeof path, "%s/weights.safetensors", s->dir);
  const char *meta[] = {"format",         "parsec-search-weights",
                        "space",          s->sp.name,
                        "epochs_trained", epoch,
                        "layers",         cells,
                        "init_channels",  chans,
                        "input_mean",     mean,
                        "input_std",      std};
  if (rc == 0) rc = rt_safetensors_write(path, &s->lay, params, stats, 0, meta, 7, e);
  free(params);
  free(stats);
  return rc;
}

int rt_search_write_outputs(search *s, const gt_genotype *mode, err_t *e) {
  char path[4200];
  char *dist = rt_dist_json(&s->d);
  char title[256];
  snprintf(title, sizeof title, "mode of %s after epoch %d", s->sp.name, s->epoch + 1);
  int rc = dist ? 0 : err_set(e, "out of memory");
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/distribution.json", s->dir);
    rc = io_write_text(path, dist, e);
  }
  if (rc == 0) rc = rt_rundir_write_cells(s->dir, &s->sp, mode, title, 1, NULL, e);
  free(dist);
  if (rc == 0) rc = write_weights(s, e);
  return rc ? rc : rt_record_append(s->dir, RT_RECORD_HISTORY, rt_dist_history_line(&s->d, s->epoch + 1), e);
}

int rt_search_log_epoch(search *s, double lr, const gt_genotype *mode, double macc, double mloss, err_t *e) {
  rt_cache_stats cs = rt_kernel_stats(s->b);
  long req = cs.requests - s->cache0.requests, miss = cs.misses - s->cache0.misses;
  double comp = cs.compile_seconds - s->cache0.compile_seconds;
  int steps = (int)s->steps_done;
  char *mt = gt_to_text(&s->sp, mode);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "epoch", s->epoch + 1);
  cJSON_AddNumberToObject(j, "lr", lr);
  cJSON_AddNumberToObject(j, "train_loss", steps ? s->loss_sum / steps : 0);
  cJSON_AddNumberToObject(j, "train_acc", steps ? s->acc_sum / steps : 0);
  cJSON_AddNumberToObject(j, "entropy", rt_dist_entropy(&s->d));
  cJSON_AddNumberToObject(j, "temperature", rt_search_temperature(&s->st, s->epoch));
  if (s->epoch < s->st.warmup) cJSON_AddBoolToObject(j, "warmup", 1); /* pi was frozen */
  cJSON_AddStringToObject(j, "mode", mt ? mt : "");
  cJSON_AddNumberToObject(j, "mode_search_acc", macc);
  cJSON_AddNumberToObject(j, "mode_search_loss", mloss);
  cJSON_AddNumberToObject(j, "seconds", s->wall);
  cJSON_AddNumberToObject(j, "children_per_s", s->wall > 0 ? s->children / s->wall : 0);
  if (s->comm.size > 1) { /* several ranks: how the children were shared, and the time spent exchanging */
    cJSON_AddNumberToObject(j, "ranks", s->comm.size);
    cJSON_AddNumberToObject(j, "children_per_rank_max", (s->st.samples + s->comm.size - 1) / s->comm.size);
    cJSON_AddNumberToObject(j, "children_per_rank_min", s->st.samples / s->comm.size);
    cJSON_AddNumberToObject(j, "rank0_communication_seconds", s->comm.secs - s->comm_secs0);
    cJSON_AddStringToObject(j, "gradient_sums", s->b->sums);
  }
  if (rt_data_unreadable(&s->data) >= 0) cJSON_AddNumberToObject(j, "unreadable_images", (double)rt_data_unreadable(&s->data));
  cJSON *k = cJSON_AddObjectToObject(j, "kernels");
  cJSON_AddNumberToObject(k, "requests", (double)req);
  cJSON_AddNumberToObject(k, "hits", (double)(req - miss));
  cJSON_AddNumberToObject(k, "misses", (double)miss);
  cJSON_AddNumberToObject(k, "compile_seconds", comp);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "step_peak_activation_bytes", (double)s->step_peak);
  cJSON_AddNumberToObject(m, "largest_child_alone_bytes", (double)s->child_alone);
  cJSON_AddNumberToObject(m, "step_peak_over_largest_child", s->worst_ratio);
  cJSON_AddNumberToObject(m, "parameter_bytes", (double)(s->lay.nparams * 3 + s->lay.nstats) * (double)s->b->elem);
  cJSON_AddNumberToObject(m, "supernet_activation_bytes", (double)s->supernet_bytes);
  if (s->comm.size > 1) {
    cJSON *rp = cJSON_AddArrayToObject(m, "rank_step_peak_activation_bytes");
    for (int r = 0; r < s->comm.size; r++) cJSON_AddItemToArray(rp, cJSON_CreateNumber((double)s->rank_peak[r]));
  }
  int rc = rt_job_log(&s->job, j, m, &s->run, e);
  char gpu_mem[64];
  rt_job_screen_note(&s->job, &s->run, gpu_mem, sizeof gpu_mem);
  if (!s->o->quiet) {
    rt_progress_clear(&s->job.prog);
    printf(
        "epoch %d/%d  lr %.4f  loss %.3f  acc %5.1f%%  entropy %.2f  mode acc %5.1f%%  %.1f s  "
        "%.1f children/s  kernels %ld/%ld hit  arena %.1f MiB (supernet %.1f MiB)%s\n",
        s->epoch + 1, s->st.epochs, lr, steps ? s->loss_sum / steps : 0, steps ? 100 * s->acc_sum / steps : 0,
        rt_dist_entropy(&s->d), 100 * macc, s->wall, s->wall > 0 ? s->children / s->wall : 0, req - miss, req,
        (double)s->step_peak / (1 << 20), (double)s->supernet_bytes / (1 << 20), gpu_mem);
    printf("  mode: %s\n", mt ? mt : "");
    fflush(stdout);
  }
  free(mt);
  return rc;
}

/* ---------- checkpoints ---------- */

/* The state at the start of step STEP of epoch EPOCH (0-based): a resumed
 * run continues from there. */
int rt_search_save_checkpoint(search *s, int epoch, int step, err_t *e) {
  size_t pb = s->lay.nparams * s->b->elem, sb = s->lay.nstats * s->b->elem, lb = sizeof(double) * (size_t)s->d.total;
  void *params = malloc(pb ? pb : 1), *mom = malloc(pb ? pb : 1), *stats = malloc(sb ? sb : 1);
  double *am = malloc(lb), *av = malloc(lb);
  int rc = params && mom && stats && am && av ? 0 : err_set(e, "out of memory");
  if (rc == 0)
    rc = rt_model_get(&s->m, params, s->m.params, pb, e) || rt_model_get(&s->m, mom, s->m.mom, pb, e) ||
         (sb && rt_model_get(&s->m, stats, s->m.stats, sb, e)) || rt_dist_moments(&s->d, am, av, e);
  char *space = sp_to_json(&s->sp);
  cJSON *h = cJSON_CreateObject();
  cJSON_AddStringToObject(h, "format", "parsec-checkpoint");
  cJSON_AddStringToObject(h, "kind", "search");
  cJSON_AddItemToObject(h, "space", cJSON_Parse(space ? space : "{}"));
  cJSON_AddItemToObject(h, "settings", rt_fields_json(rt_search_fields, rt_search_nfields, &s->st));
  cJSON_AddNumberToObject(h, "epoch", epoch);
  cJSON_AddNumberToObject(h, "step", step);
  cJSON_AddNumberToObject(h, "elem", (double)s->b->elem);
  cJSON_AddNumberToObject(h, "adam_t", (double)s->d.t);
  cJSON_AddNumberToObject(h, "log_bytes", (double)s->job.log_bytes);
  /* the blocks' tensors by the names weights.safetensors gives them:
     [name, block, offset, elements]; momentum shares the params layout */
  cJSON *names = cJSON_AddArrayToObject(h, "tensors");
  for (int i = 0; i < s->lay.n; i++) {
    const nw_tensor *t = &s->lay.t[i];
    cJSON *row = cJSON_CreateArray();
    cJSON_AddItemToArray(row, cJSON_CreateString(t->name));
    cJSON_AddItemToArray(row, cJSON_CreateString(t->kind == NW_PARAM ? "params" : "bn_stats"));
    cJSON_AddItemToArray(row, cJSON_CreateNumber((double)t->offset));
    cJSON_AddItemToArray(row, cJSON_CreateNumber((double)t->numel));
    cJSON_AddItemToArray(names, row);
  }
  rng_to_json(h, "sample_rng", &s->sample_rng);
  rng_to_json(h, "aug_rng", &s->aug_rng);
  cJSON *acc = cJSON_AddObjectToObject(h, "epoch_so_far");
  cJSON_AddNumberToObject(acc, "loss_sum", s->loss_sum);
  cJSON_AddNumberToObject(acc, "acc_sum", s->acc_sum);
  cJSON_AddNumberToObject(acc, "steps", (double)s->steps_done);
  cJSON_AddNumberToObject(acc, "children", (double)s->children);
  cJSON_AddNumberToObject(acc, "seconds", s->wall);
  char *hs = cJSON_Print(h);
  cJSON_Delete(h);
  free(space);
  if (rc == 0) {
    rt_block bl[6] = {{"params", params, pb},      {"momentum", mom, pb}, {"bn_stats", stats, sb},
                      {"logits", s->d.logits, lb}, {"adam_m", am, lb},    {"adam_v", av, lb}};
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
    rc = hs ? rt_ckpt_write(path, hs, bl, 6, e) : err_set(e, "out of memory");
  }
  free(hs);
  free(params);
  free(mom);
  free(stats);
  free(am);
  free(av);
  return rc;
}

/* Restores a run from RUN/checkpoint.bin (the space comes from it too). */
int rt_search_load_checkpoint(search *s, rt_ckpt *c, cJSON **hdr, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
  if (rt_ckpt_read(path, c, e) != 0) return -1;
  *hdr = cJSON_Parse(c->header);
  if (!*hdr) return err_set(e, "%s: damaged checkpoint header", path);
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(*hdr, "kind");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "search") != 0)
    return err_set(e, "%s: not a search checkpoint", path);
  char *space = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(*hdr, "space"));
  int rc = space ? sp_from_json(&s->sp, space, path, e) : err_set(e, "out of memory");
  free(space);
  if (rc) return -1;
  return rt_fields_read(rt_search_fields, rt_search_nfields, &s->st, cJSON_GetObjectItemCaseSensitive(*hdr, "settings"),
                        path, e);
}

int rt_search_restore_state(search *s, rt_ckpt *c, const cJSON *h, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
  const cJSON *elem = cJSON_GetObjectItemCaseSensitive(h, "elem");
  if (!cJSON_IsNumber(elem) || (size_t)elem->valueint != s->b->elem)
    return err_set(e, "%s: written with %d-byte numbers, this backend uses %zu", path,
                   cJSON_IsNumber(elem) ? elem->valueint : -1, s->b->elem);
  size_t pb = s->lay.nparams * s->b->elem, sb = s->lay.nstats * s->b->elem, lb = sizeof(double) * (size_t)s->d.total;
  const void *params = rt_ckpt_block(c, "params", pb, path, e);
  const void *mom = params ? rt_ckpt_block(c, "momentum", pb, path, e) : NULL;
  const void *stats = mom ? rt_ckpt_block(c, "bn_stats", sb, path, e) : NULL;
  const double *lg = stats ? rt_ckpt_block(c, "logits", lb, path, e) : NULL;
  const double *am = lg ? rt_ckpt_block(c, "adam_m", lb, path, e) : NULL;
  const double *av = am ? rt_ckpt_block(c, "adam_v", lb, path, e) : NULL;
  if (!av) return -1;
  /* the position and the epoch's sums, each in its range */
  double t, ep, st, sv[5], lg_bytes = -1;
  const cJSON *acc = cJSON_GetObjectItemCaseSensitive(h, "epoch_so_far");
  const char *sums[] = {"loss_sum", "acc_sum", "steps", "children", "seconds"};
  const double hi[] = {1e300, 1e300, 1e12, 1e15, 1e12};
  if (rt_ckpt_number(h, "adam_t", 0, 1e15, &t, path, e) || rt_ckpt_number(h, "epoch", 0, 1e6, &ep, path, e) ||
      rt_ckpt_number(h, "step", 0, rt_search_steps(s) - 1, &st, path, e))
    return -1;
  for (int i = 0; i < 5; i++)
    if (rt_ckpt_number(acc, sums[i], i < 2 ? -1e300 : 0, hi[i], &sv[i], path, e)) return -1;
  if (cJSON_GetObjectItemCaseSensitive(h, "log_bytes") && rt_ckpt_number(h, "log_bytes", 0, 1e15, &lg_bytes, path, e))
    return -1;
  for (int i = 0; i < s->d.total; i++)
    if (!isfinite(lg[i]) || !isfinite(am[i]) || !isfinite(av[i]) || av[i] < 0)
      return err_set(e, "%s: damaged checkpoint (a logit or its Adam moment is not finite)", path);
  if (s->b->upload(s->b, s->m.params, params, pb, e) || s->b->upload(s->b, s->m.mom, mom, pb, e) ||
      (sb && s->b->upload(s->b, s->m.stats, stats, sb, e)) || rt_dist_set(&s->d, lg, am, av, (long)t, e))
    return -1;
  if (rng_from_json(h, "sample_rng", &s->sample_rng, e) || rng_from_json(h, "aug_rng", &s->aug_rng, e)) return -1;
  s->epoch = (int)ep;
  s->step = (int)st;
  s->loss_sum = sv[0];
  s->acc_sum = sv[1];
  s->steps_done = (long)sv[2];
  s->children = (long)sv[3];
  s->wall = sv[4];
  /* log lines after the checkpoint (an epoch whose checkpoint was not
     written) go: the resumed run writes them again */
  if (lg_bytes >= 0 && rt_rundir_trim_log(s->dir, (long long)lg_bytes, e) != 0) return -1;
  return 0;
}

/* --resume with the command line the run was started with: each option
 * given (and SPACE) must agree with the run's; --epochs may grow. */
int rt_search_same_run(search *s, err_t *e) {
  const rt_search_opts *o = s->o;
  if (rt_fields_match(rt_search_fields, rt_search_nfields, &s->st, o, "epochs,", s->dir, e) != 0) return -1;
  if (!o->space) return 0;
  sp_space given;
  char a[SHA256_HEX], b[SHA256_HEX];
  if (sp_open(&given, o->space, e) != 0) return -1;
  int same = sp_ir_sha256(&given, a) == 0 && sp_ir_sha256(&s->sp, b) == 0 && strcmp(a, b) == 0;
  sp_free(&given);
  if (!same)
    return err_set_code(e, ERR_USAGE,
                        "--resume: %s is not the space %s was started with ('%s'); drop SPACE or give "
                        "that one",
                        o->space, s->dir, s->sp.name);
  return 0;
}

/* config.json, and pi at the start as the history's epoch 0. */
int rt_search_start_record(search *s, err_t *e) {
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "spec", s->st.data);
  cJSON_AddNumberToObject(data, "images", s->data.n);
  cJSON_AddNumberToObject(data, "train_split", s->ntrain);
  cJSON_AddNumberToObject(data, "search_split", s->nsearch);
  int shape[3] = {s->data.c, s->data.h, s->data.w};
  cJSON_AddItemToObject(data, "image_shape", cJSON_CreateIntArray(shape, 3));
  cJSON_AddNumberToObject(data, "classes", s->data.classes);
  cJSON *extra = cJSON_CreateObject();
  cJSON_AddNumberToObject(extra, "parameters", (double)nw_param_count(&s->lay));
  rt_record r = {s->st.init_from[0] ? "transfer" : "search",
                 s->o->argc,
                 s->o->argv,
                 &s->sp,
                 rt_fields_json(rt_search_fields, rt_search_nfields, &s->st),
                 data,
                 s->b->device,
                 extra};
  if (rt_record_start(s->dir, &r, e) != 0 || rt_data_write_classes(&s->data, s->dir, e) != 0) return -1;
  return rt_record_append(s->dir, RT_RECORD_HISTORY, rt_dist_history_line(&s->d, 0), e);
}

/* The history back to the checkpoint's finished epochs, and the resume noted. */
int rt_search_resume_record(search *s, err_t *e) {
  return rt_record_trim(s->dir, RT_RECORD_HISTORY, s->epoch, e) ||
         rt_record_resumed(s->dir, s->o->argc, s->o->argv, s->epoch, e);
}
