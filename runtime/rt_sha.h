/* SHA-256 (OpenSSL's libcrypto), as lowercase hex. */
#ifndef PARSEC_RT_SHA_H
#define PARSEC_RT_SHA_H
#include <stddef.h>

#define RT_SHA_HEX 65

/* Hash of the concatenation of N parts (each with its length, so that
 * ("ab", "c") and ("a", "bc") differ). */
void rt_sha256_parts(const void *const *parts, const size_t *lens, int n, char out[RT_SHA_HEX]);
void rt_sha256(const void *data, size_t len, char out[RT_SHA_HEX]);
/* Hash of a file's contents; -1 when it cannot be read. */
int rt_sha256_file(const char *path, char out[RT_SHA_HEX]);

#endif
