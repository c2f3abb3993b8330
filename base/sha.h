/* SHA-256 (OpenSSL's libcrypto), as lowercase hex. */
#ifndef PARSEC_SHA_H
#define PARSEC_SHA_H
#include <stddef.h>

#define SHA256_HEX 65

/* Hash of the concatenation of N parts (each with its length, so that
 * ("ab", "c") and ("a", "bc") differ). */
void sha256_parts(const void *const *parts, const size_t *lens, int n, char out[SHA256_HEX]);
void sha256(const void *data, size_t len, char out[SHA256_HEX]);
/* Hash of a file's contents; -1 when it cannot be read. */
int sha256_file(const char *path, char out[SHA256_HEX]);

#endif
