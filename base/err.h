/* Errors with context.  Library functions return -1 (or NULL) and describe
 * the failure in an err_t; only the command-line tools decide to exit, with
 * the status the error carries. */
#ifndef PARSEC_ERR_H
#define PARSEC_ERR_H
#include <stdarg.h>

/* Exit statuses: what a failure (or an interruption) means to whoever ran
 * the program.  0 is success. */
enum { ERR_FAILED = 1, ERR_USAGE = 2, ERR_NO_DEVICE = 3, ERR_INTERRUPTED = 130 };

typedef struct {
  char *msg; /* NULL while no error was set */
  int code;  /* an exit status above; 0: ERR_FAILED */
} err_t;

#define ERR_INIT {0, 0}

#if defined(__GNUC__)
#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ERR_PRINTF(a, b)
#endif

/* Sets the message (replacing any earlier one and its code); returns -1 for
 * `return err_set(...)`. */
int err_set(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
int err_vset(err_t *e, const char *fmt, va_list ap);
/* The same with an exit status other than ERR_FAILED. */
int err_set_code(err_t *e, int code, const char *fmt, ...) ERR_PRINTF(3, 4);
/* The exit status of the error: its code, else ERR_FAILED. */
int err_status(const err_t *e);
/* Puts context in front of the current message: "context: message". */
int err_prefix(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
/* Appends text to the current message. */
void err_append(err_t *e, const char *fmt, ...) ERR_PRINTF(2, 3);
const char *err_msg(const err_t *e);
void err_clear(err_t *e);

#endif
