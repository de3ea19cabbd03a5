/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of streamed remote-read
 * frames.
 *
 * Standard CRC-32C: reflected polynomial 0x82F63B78, initial value and final
 * XOR 0xFFFFFFFF, so that the check value of "123456789" is 0xE3069283 (the
 * same as Go's crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))).
 */
#ifndef PS_CRC32C_H
#define PS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extend crc (0 to start) over p[0..n). ps_crc32c(ps_crc32c(0, a), b) equals
 * the CRC of a followed by b, so a message can be checksummed in pieces.
 * Threads: any (the table is built once, thread-safely).
 */
uint32_t ps_crc32c(uint32_t crc, const void *p, size_t n);

#endif
