/* Errors with context.  Library functions return -1 (or NULL) and describe
 * the failure in an err_t; only the command-line tools decide to exit. */
#ifndef PARSEC_ERR_H
#define PARSEC_ERR_H
#include <stdarg.h>

typedef struct {
  char *msg; /* NULL while no error was set */
} err_t;

#define ERR_INIT {0}

#if defined(__GNUC__)
#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ERR_PRINTF(a, b)
#endif

/* Sets the message (replacing any earlier one); returns -1 for `return err_set(...)`. */
int err_set(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
int err_vset(err_t *e, const char *fmt, va_list ap);
/* Puts context in front of the current message: "context: message". */
int err_prefix(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
/* Appends text to the current message. */
void err_append(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
const char *err_msg(const err_t *e);
void err_clear(err_t *e);

#endif
