#include "sha.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>

static void hex(const unsigned char *d, unsigned n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = 0;
}

void sha256_parts(const void *const *parts, const size_t *lens, int n, char out[SHA256_HEX]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (int i = 0; i < n; i++) {
    uint64_t len = lens[i];
    EVP_DigestUpdate(ctx, &len, sizeof len);
    EVP_DigestUpdate(ctx, parts[i], lens[i]);
  }
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dn = 0;
  EVP_DigestFinal_ex(ctx, d, &dn);
  EVP_MD_CTX_free(ctx);
  hex(d, dn, out);
}

void sha256(const void *data, size_t len, char out[SHA256_HEX]) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dn = 0;
  EVP_Digest(data, len, d, &dn, EVP_sha256(), NULL);
  hex(d, dn, out);
}

int sha256_file(const char *path, char out[SHA256_HEX]) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  unsigned char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
  int bad = ferror(f);
  fclose(f);
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dn = 0;
  EVP_DigestFinal_ex(ctx, d, &dn);
  EVP_MD_CTX_free(ctx);
  if (bad) return -1;
  hex(d, dn, out);
  return 0;
}
