/* hex.h - hex digits, for %-escapes in URLs and the peer secret's text. */
#ifndef RAFTD_HEX_H
#define RAFTD_HEX_H

/* The value of one hex digit (either case), -1 if c is not one. */
static inline int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
