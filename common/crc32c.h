/*
 * crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, portable C.
 *
 * The same CRC as iSCSI, ext4 and Intel's crc32 instruction: cd_crc32c("123456789") is
 * 0xe3069283. Byte at a time from one 256-entry table (no SSE4.2, no slicing): about
 * 0.5-1 GB/s, enough for checkpoints. Incremental use: crc = cd_crc32c_update(crc, ...)
 * starting from 0.
 */
#ifndef CD_CRC32C_H
#define CD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of the bytes before (crc, 0 for none) followed by buf[len]. */
uint32_t cd_crc32c_update(uint32_t crc, const void *buf, size_t len);
/* CRC-32C of buf[len]. */
uint32_t cd_crc32c(const void *buf, size_t len);

#endif
