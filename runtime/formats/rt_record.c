#include "rt_record.h"
#include "io.h"
#include "sha.h"
#include "sp_json.h"
#include "version.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void now_iso(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *argv_json(int argc, char *const *argv) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < argc && argv; i++) cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
  return a;
}

static int write_json(const char *dir, const char *name, cJSON *root, err_t *e) {
  char path[4200], *text = cJSON_Print(root);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = text ? io_write_text(path, text, e) : err_set(e, "out of memory");
  free(text);
  return rc;
}

int rt_record_start(const char *dir, rt_record *r, err_t *e) {
  char when[32], host[256] = "", hash[SHA256_HEX] = "";
  now_iso(when, sizeof when);
  gethostname(host, sizeof host - 1);
  char *ir = sp_to_json(r->sp);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "parsec-run");
  cJSON_AddNumberToObject(root, "version", 1);
  cJSON_AddStringToObject(root, "kind", r->kind);
  cJSON_AddStringToObject(root, "parsec_version", PARSEC_VERSION);
  cJSON_AddItemToObject(root, "command_line", argv_json(r->argc, r->argv));
  cJSON_AddStringToObject(root, "started", when);
  cJSON_AddStringToObject(root, "host", host);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd)) cJSON_AddStringToObject(root, "directory", cwd); /* relative paths start here */
  cJSON_AddStringToObject(root, "device", r->device ? r->device : "");
  cJSON_AddNumberToObject(root, "ranks", 1);
  cJSON *sp = cJSON_AddObjectToObject(root, "space");
  cJSON_AddStringToObject(sp, "name", r->sp->name);
  if (sp_ir_sha256(r->sp, hash) == 0) cJSON_AddStringToObject(sp, "ir_sha256", hash);
  cJSON_AddItemToObject(sp, "ir", ir ? cJSON_Parse(ir) : cJSON_CreateNull());
  free(ir);
  cJSON_AddItemToObject(root, "settings", r->settings ? r->settings : cJSON_CreateObject());
  cJSON_AddItemToObject(root, "data", r->data ? r->data : cJSON_CreateObject());
  r->settings = r->data = NULL;
  if (r->extra) {
    cJSON *x;
    while ((x = r->extra->child) != NULL)
      cJSON_AddItemToObject(root, x->string, cJSON_DetachItemViaPointer(r->extra, x));
    cJSON_Delete(r->extra);
    r->extra = NULL;
  }
  cJSON_AddArrayToObject(root, "resumes");
  int rc = write_json(dir, RT_RECORD_CONFIG, root, e);
  cJSON_Delete(root);
  return rc;
}

cJSON *rt_record_config(const char *dir, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, RT_RECORD_CONFIG);
  char *text = io_read_file(path, "the run's record", IO_TEXT_MAX, NULL, e);
  if (!text) return NULL;
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "parsec-run") != 0) {
    cJSON_Delete(root);
    err_set(e, "%s: not a parsec run record (damaged?)", path);
    return NULL;
  }
  return root;
}

int rt_record_resumed(const char *dir, int argc, char *const *argv, int epoch, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, RT_RECORD_CONFIG);
  struct stat st;
  if (stat(path, &st) != 0) return 0; /* a run from before the record */
  cJSON *root = rt_record_config(dir, e);
  if (!root) return -1;
  cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "resumes");
  if (!cJSON_IsArray(res)) {
    cJSON_DeleteItemFromObjectCaseSensitive(root, "resumes");
    res = cJSON_AddArrayToObject(root, "resumes");
  }
  char when[32];
  now_iso(when, sizeof when);
  cJSON *r = cJSON_CreateObject();
  cJSON_AddItemToObject(r, "command_line", argv_json(argc, argv));
  cJSON_AddNumberToObject(r, "epoch", epoch);
  cJSON_AddStringToObject(r, "time", when);
  cJSON_AddItemToArray(res, r);
  int rc = write_json(dir, RT_RECORD_CONFIG, root, e);
  cJSON_Delete(root);
  return rc;
}

int rt_record_append(const char *dir, const char *name, cJSON *line, err_t *e) {
  char path[4200], *text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = text ? io_append_line(path, text, e) : err_set(e, "out of memory");
  free(text);
  return rc;
}

int rt_record_trim(const char *dir, const char *name, int epoch, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  size_t n;
  char *text = io_read_file(path, NULL, IO_TEXT_MAX, &n, e);
  if (!text) return -1;
  /* the longest prefix of whole lines with epochs up to EPOCH */
  size_t keep = 0;
  for (char *line = text; line < text + n;) {
    char *nl = memchr(line, '\n', (size_t)(text + n - line));
    if (!nl) break; /* a line cut short by a crash goes too */
    *nl = 0;
    cJSON *j = cJSON_Parse(line);
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(j, "epoch");
    int ok = cJSON_IsNumber(ep) && ep->valuedouble <= epoch;
    cJSON_Delete(j);
    if (!ok) break;
    keep = (size_t)(nl + 1 - text);
    line = nl + 1;
  }
  free(text);
  if (keep == n) return 0;
  if (truncate(path, (off_t)keep) != 0) return err_set(e, "%s: cannot cut back to the checkpoint's epoch", path);
  return 0;
}
