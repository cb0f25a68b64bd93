/* fuzz.h - helpers shared by raftd's libFuzzer targets (doc/fuzzing.md).
 *
 * Every target is a file tests/fuzz/fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput(). Besides the sanitizers' findings (memory
 * errors, undefined behaviour, leaks), a target checks properties of what
 * the code under test returns with FUZZ_CHECK(): a broken property aborts,
 * which libFuzzer reports as a crash and saves the input.
 */
#ifndef RAFTD_FUZZ_H
#define RAFTD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, \
                    __LINE__, #cond);                                    \
            abort();                                                     \
        }                                                                \
    } while (0)

/* An error message a function under test wrote: set, terminated, within
 * its buffer. */
static inline bool fuzz_message_ok(const char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    return n > 0 && n < errlen;
}

/* A NUL-terminated copy of data[0..n) (malloc'd; aborts if out of memory). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* Little-endian integers, as raftd's file formats use. */
static inline void fuzz_put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t fuzz_get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* data[0..n) copied to the end of a mapping that an inaccessible page
 * follows, so that reading past its end faults even in code the sanitizers
 * do not see (libc's sscanf, strtoull, ...: a buffer that is not
 * NUL-terminated). Valid until the next call. */
static inline const uint8_t *fuzz_guarded(const uint8_t *data, size_t n)
{
    static uint8_t *map;
    static size_t cap;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!map || n > cap) {
        if (map)
            munmap(map, cap + page);
        cap = n > page ? (n + page - 1) / page * page : page;
        map = mmap(NULL, cap + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED || mprotect(map + cap, page, PROT_NONE) < 0)
            abort();
    }
    uint8_t *p = map + cap - n;
    if (n)
        memcpy(p, data, n);
    return p;
}

#endif
