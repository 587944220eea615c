/*
 * toast.h: external TOAST values read straight from the TOAST relation's files.
 *
 * Does: on first use, one pass over the TOAST relation (opened at pin time) builds a sorted
 * index (value id, chunk seq) -> (block, item); a fetch then reads the value's chunks and
 * validates them: every chunk present, in sequence, of TOAST_MAX_CHUNK_SIZE bytes but the
 * last, summing to the stored size. Chunk tuples are not visibility-checked: value ids are
 * unique among the tuples physically present, and a visible row's chunks are present while
 * the snapshot is pinned; a duplicate (id, seq) is reported, never guessed.
 * Does not: decompress (value.c does), own the relation file. Thread-safe.
 */
#ifndef CD_TOAST_H
#define CD_TOAST_H

#include <stdint.h>

#include "cd_err.h"
#include "relfile.h"

typedef struct cd_toast cd_toast;

/* rf must outlive the cd_toast. toastrelid: the TOAST table's OID (as in pointers). */
cd_code cd_toast_new(cd_toast **out, const cd_relfile *rf, uint32_t toastrelid, uint32_t max_chunk,
                     cd_err *err);

/* Read value valueid of extsize stored bytes into dst (extsize bytes). */
cd_code cd_toast_fetch(cd_toast *t, uint32_t valueid, uint32_t extsize, uint8_t *dst, cd_err *err);

/* Read only the first want stored bytes (want <= extsize) of value valueid: the chunks that
 * hold them, validated as in cd_toast_fetch. */
cd_code cd_toast_fetch_prefix(cd_toast *t, uint32_t valueid, uint32_t extsize, uint32_t want,
                              uint8_t *dst, cd_err *err);

uint32_t cd_toast_relid(const cd_toast *t);

void cd_toast_free(cd_toast **t);

#endif
