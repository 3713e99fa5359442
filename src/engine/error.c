/* Per-thread error message: the one piece of state outside the caller's objects. */
#include "shendu/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[1024];

const char *sd_last_error(void) { return err_msg; }

int sd_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return -1;
}

int sd_error_prefix(const char *fmt, ...)
{
    char old[sizeof err_msg];
    memcpy(old, err_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    size_t used = (size_t)k < sizeof err_msg ? (size_t)k : sizeof err_msg - 1;
    size_t room = sizeof err_msg - used;
    if (room > 3) {
        memcpy(err_msg + used, ": ", 2);
        size_t len = strlen(old);
        if (len > room - 3) len = room - 3;
        memcpy(err_msg + used + 2, old, len);
        err_msg[used + 2 + len] = 0;
    }
    return -1;
}
