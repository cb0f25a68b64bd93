/* crc32c.h - CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial
 * value and final XOR 0xFFFFFFFF; crc32c("123456789") = 0xE3069283). */
#ifndef RAFTD_CRC32C_H
#define RAFTD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of buf, continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The same without CPU instructions (crc32c uses SSE4.2 where it can). */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
