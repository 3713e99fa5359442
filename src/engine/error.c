/* Per-thread error message: the one piece of state outside the caller's objects. */
#include "shendu/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[1024];

const char *sd_last_error(void) { return err_msg; }

/* Messages quote what files hold (names, metadata, paths): a control byte
 * among them (C0, DEL, C1 whether UTF-8 encoded or bare) is written as \xNN,
 * so that printing a message never sends a terminal an escape sequence. */
static void set_message(const char *raw)
{
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)raw;
    for (; *p && k + 1 < sizeof err_msg; p++) {
        int c1 = *p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0;
        if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && *p < 0xa0 && (p == (const unsigned char *)raw || p[-1] != 0xc2)) || c1) {
            if (k + 5 >= sizeof err_msg) break;
            snprintf(err_msg + k, 5, "\\x%02x", c1 ? *++p : *p);
            k += 4;
        } else {
            err_msg[k++] = (char)*p;
        }
    }
    err_msg[k] = 0;
}

int sd_error(const char *fmt, ...)
{
    char raw[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    set_message(raw);
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
    char raw[sizeof err_msg];
    memcpy(raw, err_msg, sizeof raw);
    set_message(raw);
    return -1;
}
