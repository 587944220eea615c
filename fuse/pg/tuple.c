/*
 * tuple.c: heap tuple deforming (see tuple.h). Layout: reference/pg-format.md section 2.
 */
#include "tuple.h"

#include "pgdisk.h"

cd_code cd_varsize_any(const uint8_t *p, uint32_t avail, uint32_t *size, cd_err *err)
{
    if (avail < 1)
        return cd_fail(err, CD_ECORRUPT, "varlena header beyond the end of the tuple");
    uint8_t b0 = p[0];
    uint32_t n;
    if (b0 == 0x01) {
        if (avail < 2)
            return cd_fail(err, CD_ECORRUPT, "toast pointer beyond the end of the tuple");
        if (p[1] != PGD_VARTAG_ONDISK) {
            cd_fail(err, CD_ECORRUPT, "unexpected toast pointer tag %u", p[1]);
            return cd_detail(err, "only on-disk pointers (tag %d) can be stored in a table",
                             PGD_VARTAG_ONDISK);
        }
        n = 2 + PGD_TOAST_POINTER_SIZE;
    } else if (b0 & 1) {
        n = b0 >> 1;
    } else {
        if (avail < 4)
            return cd_fail(err, CD_ECORRUPT, "varlena header beyond the end of the tuple");
        n = cd_rd32(p) >> 2;
        if (n < 4)
            return cd_fail(err, CD_ECORRUPT, "varlena length %u is smaller than its header", n);
    }
    if (n > avail) {
        cd_fail(err, CD_ECORRUPT, "varlena length %u exceeds the tuple", n);
        return cd_detail(err, "%u bytes left in the tuple", avail);
    }
    *size = n;
    return CD_OK;
}

static uint32_t align_up(uint32_t off, char align)
{
    uint32_t a = PGD_TYPALIGN(align);
    return (off + a - 1) & ~(a - 1);
}

/* Length of the attribute at tup+off; adjusts *off for alignment. */
static cd_code attr_extent(const uint8_t *tup, uint32_t len, const cd_attr *a, uint32_t *off,
                           uint32_t *size, cd_err *err)
{
    if (a->attlen == -1 && *off < len && tup[*off] != 0) {
        /* short or external varlena: never aligned */
    } else {
        *off = align_up(*off, a->attalign);
    }
    if (*off > len)
        return cd_fail(err, CD_ECORRUPT, "attribute %d starts beyond the end of the tuple",
                       a->attnum);
    if (a->attlen > 0) {
        if ((uint32_t)a->attlen > len - *off)
            return cd_fail(err, CD_ECORRUPT, "attribute %d extends beyond the end of the tuple",
                           a->attnum);
        *size = (uint32_t)a->attlen;
        return CD_OK;
    }
    if (a->attlen == -1) {
        cd_code rc = cd_varsize_any(tup + *off, len - *off, size, err);
        if (rc != CD_OK)
            cd_context(err, "attribute %d", a->attnum);
        return rc;
    }
    if (a->attlen == -2) {
        const uint8_t *z = memchr(tup + *off, 0, len - *off);
        if (z == NULL)
            return cd_fail(err, CD_ECORRUPT, "unterminated cstring in attribute %d", a->attnum);
        *size = (uint32_t)(z - (tup + *off)) + 1;
        return CD_OK;
    }
    return cd_fail(err, CD_ECORRUPT, "invalid attribute length %d for attribute %d", a->attlen,
                   a->attnum);
}

/* What check_header reads from a tuple's header. */
typedef struct tuple_head {
    int natts;    /* the tuple's own count of attributes */
    uint32_t off; /* where its data starts */
    bool hasnull; /* it has a null bitmap */
} tuple_head;

/* The header of a tuple of a relation of natts attributes, checked, into *h. */
static cd_code check_header(const uint8_t *tup, uint32_t len, int natts, tuple_head *h, cd_err *err)
{
    if (len < PGD_TUP_MIN_HEADER)
        return cd_fail(err, CD_ECORRUPT, "tuple of %u bytes is shorter than its header", len);
    uint16_t infomask2 = cd_rd16(tup + PGD_TUP_OFF_INFOMASK2);
    uint16_t infomask = cd_rd16(tup + PGD_TUP_OFF_INFOMASK);
    int n = infomask2 & PGD_HEAP_NATTS_MASK;
    uint32_t hoff = tup[PGD_TUP_OFF_HOFF];
    uint32_t need = PGD_TUP_MIN_HEADER;
    if (infomask & PGD_HEAP_HASNULL)
        need += ((uint32_t)n + 7) / 8;
    if (infomask & PGD_HEAP_HASOID_OLD)
        return cd_fail(err, CD_EUNSUPPORTED, "tuple has an old-style OID column");
    if (n > natts) {
        cd_fail(err, CD_ECORRUPT, "tuple has more attributes than its relation");
        return cd_detail(err, "tuple has %d, relation has %d", n, natts);
    }
    if (hoff < need || hoff % 8 != 0 || hoff > len) {
        cd_fail(err, CD_ECORRUPT, "invalid tuple header offset %u", hoff);
        return cd_detail(err, "need at least %u, tuple length %u", need, len);
    }
    *h = (tuple_head){.natts = n, .off = hoff, .hasnull = (infomask & PGD_HEAP_HASNULL) != 0};
    return CD_OK;
}

/* Is attribute i NULL in the null bitmap of tup (hasnull: the tuple has one)? */
static bool att_isnull(const uint8_t *tup, bool hasnull, int i)
{
    return hasnull && !(tup[PGD_TUP_OFF_BITS + (i >> 3)] & (1 << (i & 7)));
}

/* The attributes of a tuple whose header check_header took into h. */
static cd_code deform_attrs(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                            const tuple_head *h, cd_datum *out, cd_err *err)
{
    cd_code rc;
    uint32_t off = h->off;
    for (int i = 0; i < natts; i++) {
        cd_datum *d = &out[i];
        d->p = NULL;
        d->len = 0;
        d->missing = i >= h->natts;
        d->isnull = d->missing || att_isnull(tup, h->hasnull, i);
        if (d->isnull)
            continue;
        uint32_t size = 0;
        rc = attr_extent(tup, len, &attrs[i], &off, &size, err);
        if (rc != CD_OK)
            return rc;
        d->p = tup + off;
        d->len = size;
        off += size;
    }
    if (off != len) {
        cd_fail(err, CD_ECORRUPT, "tuple length does not match its attributes");
        return cd_detail(err, "attributes end at byte %u, tuple has %u bytes", off, len);
    }
    return CD_OK;
}

cd_code cd_tuple_deform(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                        cd_datum *out, cd_err *err)
{
    tuple_head h;
    cd_code rc = check_header(tup, len, natts, &h, err);
    if (rc != CD_OK)
        return rc;
    return deform_attrs(tup, len, attrs, natts, &h, out, err);
}

void cd_tuple_fixed_offsets(const cd_attr *attrs, int natts, int32_t *fixoff)
{
    uint32_t off = 0;
    bool fixed = true;
    for (int i = 0; i < natts; i++) {
        fixed = fixed && attrs[i].attlen > 0;
        if (fixed)
            off = align_up(off, attrs[i].attalign);
        fixoff[i] = fixed ? (int32_t)off : -1;
        if (fixed)
            off += (uint32_t)attrs[i].attlen;
    }
}

int32_t cd_tuple_fixed_len(const cd_attr *attrs, int natts, const int32_t *fixoff)
{
    if (natts == 0 || fixoff[natts - 1] < 0)
        return -1;
    return fixoff[natts - 1] + attrs[natts - 1].attlen;
}

cd_code cd_tuple_deform_fixed(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                              const int32_t *fixoff, int32_t fixlen, cd_datum *out, cd_err *err)
{
    tuple_head h;
    cd_code rc = check_header(tup, len, natts, &h, err);
    if (rc != CD_OK)
        return rc;
    /* every attribute there, no NULL, data of the fixed length: else the long way, which
     * says what is wrong */
    if (fixlen < 0 || h.natts != natts || h.hasnull || len - h.off != (uint32_t)fixlen)
        return deform_attrs(tup, len, attrs, natts, &h, out, err);
    const uint8_t *data = tup + h.off;
    for (int i = 0; i < natts; i++)
        out[i] = (cd_datum){.p = data + fixoff[i], .len = (uint32_t)attrs[i].attlen};
    return CD_OK;
}

cd_code cd_tuple_attr(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                      const int32_t *fixoff, int want, cd_datum *out, cd_err *err)
{
    tuple_head h;
    cd_code rc = check_header(tup, len, natts, &h, err);
    if (rc != CD_OK)
        return rc;
    *out = (cd_datum){.missing = want >= h.natts};
    out->isnull = out->missing || att_isnull(tup, h.hasnull, want);
    if (out->isnull)
        return CD_OK;
    uint32_t off = h.off;
    if (!h.hasnull && fixoff != NULL && fixoff[want] >= 0) { /* no NULL, fixed width before */
        off += (uint32_t)fixoff[want];
        if (off > len || len - off < (uint32_t)attrs[want].attlen)
            return cd_fail(err, CD_ECORRUPT, "attribute %d extends beyond the end of the tuple",
                           attrs[want].attnum);
        *out = (cd_datum){.p = tup + off, .len = (uint32_t)attrs[want].attlen};
        return CD_OK;
    }
    for (int i = 0; i <= want; i++) {
        if (att_isnull(tup, h.hasnull, i))
            continue;
        uint32_t size = 0;
        rc = attr_extent(tup, len, &attrs[i], &off, &size, err);
        if (rc != CD_OK)
            return rc;
        if (i == want)
            *out = (cd_datum){.p = tup + off, .len = size};
        off += size;
    }
    return CD_OK;
}
