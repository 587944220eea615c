/*
 * page.h: validation of heap pages and access to their line pointers.
 *
 * Does: header checks (the server's own PageIsVerifiedExtended rules), page checksums,
 * bounds-checked line pointers. Does not: read files (relfile.h), decode tuples (tuple.h)
 * or decide visibility (xact.h).
 */
#ifndef CD_PAGE_H
#define CD_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"

/* True when every byte of the page is zero (a legal, never-initialised page). */
bool cd_page_is_zero(const uint8_t *page, uint32_t blcksz);

/*
 * Validate a page header and, when checksums is true, its checksum for absolute block
 * number blkno (segno * blocks_per_segment + block). Returns CD_ECORRUPT with the reason;
 * the caller adds the file and block as context. A zero page is valid (no items).
 */
cd_code cd_page_validate(const uint8_t *page, uint32_t blcksz, uint32_t blkno, bool checksums,
                         cd_err *err);

/* Number of line pointers of a validated page (0 for a new or zero page). */
unsigned cd_page_nitems(const uint8_t *page);

/* True when the page header has PD_ALL_VISIBLE. */
bool cd_page_all_visible(const uint8_t *page);

/*
 * Line pointer item (1-based) of a validated page. Sets *flags (LP_*), and for LP_NORMAL
 * items *tup / *len to the tuple bytes after checking they lie between pd_upper and
 * pd_special and hold at least a tuple header. Returns CD_ECORRUPT otherwise.
 */
cd_code cd_page_item(const uint8_t *page, uint32_t blcksz, unsigned item, unsigned *flags,
                     const uint8_t **tup, uint32_t *len, cd_err *err);

#endif
