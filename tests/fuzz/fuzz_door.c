/* fuzz_door.c - the door's judge of a connection's first bytes
 * (http_door_judge in http_door.c), which sees every connection before
 * libmicrohttpd does, whatever was sent.
 *
 * The door peeks at what has arrived so far and judges it again as more
 * arrives, so the verdicts on the prefixes of one byte stream must agree:
 * a prefix judged garbage stays garbage, a TLS handshake stays one, a
 * complete request line stays a request (of the same class), and "wait"
 * may only come before these.
 * A request's line ends in the bytes judged; a peer's target starts with
 * the prefix. The first input byte picks the prefix (/raft/, none, /v2/).
 */
#include "fuzz.h"

#include "http_door.h"

static const char *const prefixes[] = {"/raft/", NULL, "/v2/"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *prefix = prefixes[data[0] % 3];
    const char *buf = (const char *)data + 1;
    size_t n = size - 1;
    bool peer = false;
    enum http_door_verdict whole = http_door_judge(buf, n, prefix, &peer);
    FUZZ_CHECK(whole == HTTP_DOOR_WAIT || whole == HTTP_DOOR_REQUEST ||
               whole == HTTP_DOOR_GARBAGE || whole == HTTP_DOOR_TLS);
    if (whole == HTTP_DOOR_REQUEST)
        FUZZ_CHECK(memchr(buf, '\n', n) != NULL);
    if (whole == HTTP_DOOR_REQUEST && peer) /* (*peer means nothing else) */
        FUZZ_CHECK(prefix && memmem(buf, n, prefix, strlen(prefix)) != NULL);
    /* the stream as it arrives, byte by byte (bounded: quadratic) */
    size_t upto = n < 1024 ? n : 1024;
    enum http_door_verdict prev = HTTP_DOOR_WAIT;
    bool prev_peer = false;
    for (size_t k = 0; k <= upto; k++) {
        bool p = false;
        enum http_door_verdict v = http_door_judge(buf, k, prefix, &p);
        if (prev == HTTP_DOOR_GARBAGE || prev == HTTP_DOOR_TLS)
            FUZZ_CHECK(v == prev);
        if (prev == HTTP_DOOR_REQUEST)
            FUZZ_CHECK(v == HTTP_DOOR_REQUEST && p == prev_peer);
        prev = v;
        prev_peer = v == HTTP_DOOR_REQUEST && p;
    }
    if (upto == n)
        FUZZ_CHECK(prev == whole &&
                   prev_peer == (whole == HTTP_DOOR_REQUEST && peer));
    return 0;
}
