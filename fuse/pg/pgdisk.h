/*
 * pgdisk.h: PostgreSQL on-disk layouts the decoder reads, in one place.
 *
 * Holds for PostgreSQL 12-17 heap pages (page layout version 4), little-endian hosts.
 * Sources: src/include/storage/bufpage.h, itemid.h, access/htup_details.h, postgres.h /
 * varatt.h, utils/array.h, access/clog.c, multixact.c (see reference/pg-format.md).
 * Fields are read with the cd_rd* helpers (memcpy), never through casts of page memory:
 * every page is hostile input and may be unaligned inside a decode buffer.
 */
#ifndef CD_PGDISK_H
#define CD_PGDISK_H

#include <stdint.h>
#include <string.h>

/* ---- page header (PageHeaderData) ---- */
#define PGD_PAGE_HEADER_SIZE 24
#define PGD_OFF_LSN 0
#define PGD_OFF_CHECKSUM 8
#define PGD_OFF_FLAGS 10
#define PGD_OFF_LOWER 12
#define PGD_OFF_UPPER 14
#define PGD_OFF_SPECIAL 16
#define PGD_OFF_PAGESIZE_VERSION 18
#define PGD_OFF_PRUNE_XID 20
#define PGD_PAGE_LAYOUT_VERSION 4
#define PGD_PD_HAS_FREE_LINES 0x1
#define PGD_PD_PAGE_FULL 0x2
#define PGD_PD_ALL_VISIBLE 0x4
#define PGD_PD_VALID_FLAG_BITS 0x7

/* ---- line pointers (ItemIdData) ---- */
#define PGD_ITEMID_SIZE 4
#define PGD_LP_UNUSED 0
#define PGD_LP_NORMAL 1
#define PGD_LP_REDIRECT 2
#define PGD_LP_DEAD 3

/* ---- heap tuple header (HeapTupleHeaderData) ---- */
#define PGD_TUP_OFF_XMIN 0
#define PGD_TUP_OFF_XMAX 4
#define PGD_TUP_OFF_CID 8
#define PGD_TUP_OFF_CTID 12
#define PGD_TUP_OFF_INFOMASK2 18
#define PGD_TUP_OFF_INFOMASK 20
#define PGD_TUP_OFF_HOFF 22
#define PGD_TUP_OFF_BITS 23
#define PGD_TUP_MIN_HEADER 23

#define PGD_HEAP_NATTS_MASK 0x07FF
#define PGD_HEAP_KEYS_UPDATED 0x2000
#define PGD_HEAP_HOT_UPDATED 0x4000
#define PGD_HEAP_ONLY_TUPLE 0x8000

#define PGD_HEAP_HASNULL 0x0001
#define PGD_HEAP_HASVARWIDTH 0x0002
#define PGD_HEAP_HASEXTERNAL 0x0004
#define PGD_HEAP_HASOID_OLD 0x0008
#define PGD_HEAP_XMAX_KEYSHR_LOCK 0x0010
#define PGD_HEAP_COMBOCID 0x0020
#define PGD_HEAP_XMAX_EXCL_LOCK 0x0040
#define PGD_HEAP_XMAX_LOCK_ONLY 0x0080
#define PGD_HEAP_XMAX_SHR_LOCK (PGD_HEAP_XMAX_EXCL_LOCK | PGD_HEAP_XMAX_KEYSHR_LOCK)
#define PGD_HEAP_LOCK_MASK                                                                         \
    (PGD_HEAP_XMAX_SHR_LOCK | PGD_HEAP_XMAX_EXCL_LOCK | PGD_HEAP_XMAX_KEYSHR_LOCK)
#define PGD_HEAP_XMIN_COMMITTED 0x0100
#define PGD_HEAP_XMIN_INVALID 0x0200
#define PGD_HEAP_XMIN_FROZEN (PGD_HEAP_XMIN_COMMITTED | PGD_HEAP_XMIN_INVALID)
#define PGD_HEAP_XMAX_COMMITTED 0x0400
#define PGD_HEAP_XMAX_INVALID 0x0800
#define PGD_HEAP_XMAX_IS_MULTI 0x1000
#define PGD_HEAP_UPDATED 0x2000
#define PGD_HEAP_MOVED_OFF 0x4000
#define PGD_HEAP_MOVED_IN 0x8000
#define PGD_HEAP_MOVED (PGD_HEAP_MOVED_OFF | PGD_HEAP_MOVED_IN)

/* special transaction ids */
#define PGD_INVALID_XID 0u
#define PGD_BOOTSTRAP_XID 1u
#define PGD_FROZEN_XID 2u
#define PGD_FIRST_NORMAL_XID 3u

/* ---- varlena ---- */
#define PGD_VARTAG_ONDISK 18
#define PGD_TOAST_POINTER_SIZE 16 /* varatt_external, after the 2-byte header */
#define PGD_VARLENA_EXTSIZE_MASK 0x3FFFFFFFu
#define PGD_CMP_PGLZ 0
#define PGD_CMP_LZ4 1

/* ---- arrays (ArrayType) ---- */
#define PGD_ARRAY_HEADER 16 /* vl_len_, ndim, dataoffset, elemtype */
#define PGD_MAXDIM 6

/* ---- SLRUs ---- */
#define PGD_SLRU_PAGES_PER_SEGMENT 32
#define PGD_CLOG_XACTS_PER_BYTE 4
#define PGD_CLOG_IN_PROGRESS 0
#define PGD_CLOG_COMMITTED 1
#define PGD_CLOG_ABORTED 2
#define PGD_CLOG_SUB_COMMITTED 3
#define PGD_MXACT_MEMBERS_PER_GROUP 4
#define PGD_MXACT_GROUP_SIZE 20 /* 4 flag bytes + 4 xids */
#define PGD_MXSTATUS_FOR_KEY_SHARE 0
#define PGD_MXSTATUS_FOR_SHARE 1
#define PGD_MXSTATUS_FOR_NO_KEY_UPDATE 2
#define PGD_MXSTATUS_FOR_UPDATE 3
#define PGD_MXSTATUS_NO_KEY_UPDATE 4
#define PGD_MXSTATUS_UPDATE 5

/* ---- type oids the decoder maps ---- */
#define PGD_BOOLOID 16
#define PGD_BYTEAOID 17
#define PGD_INT8OID 20
#define PGD_INT2OID 21
#define PGD_INT4OID 23
#define PGD_TEXTOID 25
#define PGD_FLOAT4OID 700
#define PGD_FLOAT8OID 701
#define PGD_BPCHAROID 1042
#define PGD_VARCHAROID 1043
#define PGD_NUMERICOID 1700
#define PGD_INT2ARRAYOID 1005
#define PGD_INT4ARRAYOID 1007
#define PGD_INT8ARRAYOID 1016
#define PGD_FLOAT4ARRAYOID 1021
#define PGD_FLOAT8ARRAYOID 1022

#define PGD_TYPALIGN(c) ((c) == 'd' ? 8 : (c) == 'i' ? 4 : (c) == 's' ? 2 : 1)

static inline uint16_t cd_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t cd_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t cd_rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* TransactionIdPrecedes for normal xids: modulo-2^32 comparison. */
static inline int cd_xid_precedes(uint32_t a, uint32_t b)
{
    if (a < PGD_FIRST_NORMAL_XID || b < PGD_FIRST_NORMAL_XID)
        return a < b;
    return (int32_t)(a - b) < 0;
}

#endif
