/*
 * page.c: heap page header validation and line pointers (see page.h).
 */
#include "page.h"

#include "checksum.h"
#include "pgdisk.h"

bool cd_page_is_zero(const uint8_t *page, uint32_t blcksz)
{
    static const uint8_t zeros[256];
    for (uint32_t off = 0; off < blcksz; off += sizeof zeros)
        if (memcmp(page + off, zeros, sizeof zeros) != 0)
            return false;
    return true;
}

static cd_code check_header(const uint8_t *page, uint32_t blcksz, cd_err *err)
{
    uint16_t flags = cd_rd16(page + PGD_OFF_FLAGS);
    uint16_t lower = cd_rd16(page + PGD_OFF_LOWER);
    uint16_t upper = cd_rd16(page + PGD_OFF_UPPER);
    uint16_t special = cd_rd16(page + PGD_OFF_SPECIAL);
    uint16_t sv = cd_rd16(page + PGD_OFF_PAGESIZE_VERSION);

    if ((sv & 0xFF00) != (blcksz & 0xFF00) || (sv & 0x00FF) != PGD_PAGE_LAYOUT_VERSION) {
        cd_fail(err, CD_ECORRUPT, "invalid page header");
        return cd_detail(err, "page size/version word 0x%04x, expected size %u version %d", sv,
                         blcksz, PGD_PAGE_LAYOUT_VERSION);
    }
    if (flags & ~PGD_PD_VALID_FLAG_BITS) {
        cd_fail(err, CD_ECORRUPT, "invalid page header");
        return cd_detail(err, "unknown flag bits 0x%04x", flags);
    }
    if (lower < PGD_PAGE_HEADER_SIZE || lower > upper || upper > special || special > blcksz ||
        (special % 8) != 0 || ((lower - PGD_PAGE_HEADER_SIZE) % PGD_ITEMID_SIZE) != 0) {
        cd_fail(err, CD_ECORRUPT, "invalid page header");
        return cd_detail(err, "pd_lower %u, pd_upper %u, pd_special %u, block size %u", lower,
                         upper, special, blcksz);
    }
    if (special != blcksz) {
        cd_fail(err, CD_ECORRUPT, "page is not a heap page");
        return cd_detail(err, "pd_special %u, a heap page has %u", special, blcksz);
    }
    return CD_OK;
}

cd_code cd_page_validate(const uint8_t *page, uint32_t blcksz, uint32_t blkno, bool checksums,
                         cd_err *err)
{
    if (cd_rd16(page + PGD_OFF_UPPER) == 0) {
        if (cd_page_is_zero(page, blcksz))
            return CD_OK;
        cd_fail(err, CD_ECORRUPT, "invalid page header");
        return cd_detail(err, "pd_upper is 0 but the page is not all zeros");
    }
    cd_code rc = check_header(page, blcksz, err);
    if (rc != CD_OK)
        return rc;
    if (checksums) {
        uint16_t want = cd_rd16(page + PGD_OFF_CHECKSUM);
        uint16_t got = cd_page_checksum(page, blcksz, blkno);
        if (want != got) {
            cd_fail(err, CD_ECORRUPT, "page checksum mismatch");
            return cd_detail(err, "stored checksum %u, computed %u", want, got);
        }
    }
    return CD_OK;
}

unsigned cd_page_nitems(const uint8_t *page)
{
    uint16_t lower = cd_rd16(page + PGD_OFF_LOWER);
    if (cd_rd16(page + PGD_OFF_UPPER) == 0 || lower < PGD_PAGE_HEADER_SIZE)
        return 0;
    return (lower - PGD_PAGE_HEADER_SIZE) / PGD_ITEMID_SIZE;
}

bool cd_page_all_visible(const uint8_t *page)
{
    return (cd_rd16(page + PGD_OFF_FLAGS) & PGD_PD_ALL_VISIBLE) != 0;
}

cd_code cd_page_item(const uint8_t *page, uint32_t blcksz, unsigned item, unsigned *flags,
                     const uint8_t **tup, uint32_t *len, cd_err *err)
{
    if (item < 1 || item > cd_page_nitems(page)) {
        cd_fail(err, CD_ECORRUPT, "line pointer out of range");
        return cd_detail(err, "item %u of %u", item, cd_page_nitems(page));
    }
    uint32_t w = cd_rd32(page + PGD_PAGE_HEADER_SIZE + (item - 1) * PGD_ITEMID_SIZE);
    uint32_t off = w & 0x7FFF, lpflags = (w >> 15) & 3, lplen = w >> 17;
    *flags = lpflags;
    *tup = NULL;
    *len = 0;
    if (lpflags != PGD_LP_NORMAL)
        return CD_OK;
    uint32_t upper = cd_rd16(page + PGD_OFF_UPPER);
    uint32_t special = cd_rd16(page + PGD_OFF_SPECIAL);
    if (off < upper || off % 8 != 0 || lplen < PGD_TUP_MIN_HEADER || off + lplen > special ||
        off + lplen > blcksz) {
        cd_fail(err, CD_ECORRUPT, "invalid line pointer");
        return cd_detail(err, "item %u: offset %u, length %u, pd_upper %u, pd_special %u", item,
                         off, lplen, upper, special);
    }
    *tup = page + off;
    *len = lplen;
    return CD_OK;
}
