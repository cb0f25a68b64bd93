/* crc32c.c - CRC-32C (Castagnoli), the checksum of every raftd file:
 * log records, metadata, snapshots and the members record (doc/storage.md).
 * Table-driven, or SSE4.2's crc32 instruction where the CPU has it. */
#include "crc32c.h"

#include <string.h>

/* table driven (reflected polynomial 0x82F63B78) */
static uint32_t crc_table[256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!crc_table[1])
        crc_init();
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE4.2's crc32 instruction computes exactly this CRC, 8 bytes at a time
 * (it was ~3% of the servers' CPU under write load with the table). */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    crc = (uint32_t)c;
    while (len--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}

static uint32_t crc32c_raw(uint32_t crc, const uint8_t *p, size_t len)
{
    static int hw = -1;
    if (hw < 0)
        hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    return hw ? crc32c_sse42(crc, p, len) : crc32c_table(crc, p, len);
}
#else
#define crc32c_raw crc32c_table
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32c_raw(~crc, buf, len);
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32c_table(~crc, buf, len);
}

