/* Rewrites one number in a checkpoint's header and writes the checkpoint
 * back with a checksum that matches, as a careless or hostile edit would:
 *   ckpt_edit CHECKPOINT KEY VALUE      (KEY: "step" or "settings.temperature") */
#include "rt_ckpt.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ckpt_edit CHECKPOINT KEY VALUE\n");
    return 2;
  }
  rt_ckpt c;
  err_t e = ERR_INIT;
  if (rt_ckpt_read(argv[1], &c, &e) != 0) {
    fprintf(stderr, "ckpt_edit: %s\n", err_msg(&e));
    return 1;
  }
  cJSON *h = cJSON_Parse(c.header), *o = h;
  char key[256];
  snprintf(key, sizeof key, "%s", argv[2]);
  char *dot = strchr(key, '.');
  if (dot) {
    *dot = 0;
    o = cJSON_GetObjectItemCaseSensitive(h, key);
  }
  const char *leaf = dot ? dot + 1 : key;
  if (!o || !cJSON_GetObjectItemCaseSensitive(o, leaf)) {
    fprintf(stderr, "ckpt_edit: no '%s' in the header\n", argv[2]);
    return 1;
  }
  cJSON_ReplaceItemInObjectCaseSensitive(o, leaf, cJSON_CreateNumber(strtod(argv[3], NULL)));
  char *text = cJSON_Print(h);
  int rc = rt_ckpt_write(argv[1], text, c.blocks, c.nblocks, &e);
  if (rc) fprintf(stderr, "ckpt_edit: %s\n", err_msg(&e));
  free(text);
  cJSON_Delete(h);
  rt_ckpt_free(&c);
  return rc ? 1 : 0;
}
