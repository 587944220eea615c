/*
 * checksum.h: PostgreSQL's data page checksum (storage/checksum_impl.h algorithm).
 *
 * Does: compute the 16-bit checksum of one page as the server would store it in pd_checksum,
 * for any block size that is a multiple of 128 bytes (8192, 32768, ...).
 * Does not: decide whether a page is new (all-zero pages carry no checksum), read files, or
 * check the page header; callers compare the result with pd_checksum themselves.
 */
#ifndef CD_CHECKSUM_H
#define CD_CHECKSUM_H

#include <stdint.h>

/*
 * Checksum of page[0..blcksz) at absolute block number blkno (segno * RELSEG_SIZE + block).
 * The stored pd_checksum field is treated as zero; the page is not modified and needs no
 * particular alignment. Returns 1..65535, or 0 (never a valid checksum) when page is NULL
 * or blcksz is 0 or not a multiple of 128.
 */
uint16_t cd_page_checksum(const uint8_t *page, uint32_t blcksz, uint32_t blkno);

#endif
