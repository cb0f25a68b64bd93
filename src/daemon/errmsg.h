/* errmsg.h - report a failure through the caller's buffer: format it into
 * err (errlen bytes) and return -1, for the functions of storage.c and
 * snapfile.c that end with "return errmsg(err, errlen, ...)". */
#ifndef RAFTD_ERRMSG_H
#define RAFTD_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static inline int errmsg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
