/*
 * ckpt.h: trainer checkpoints, one versioned little-endian binary file per model state.
 *
 * Layout (all integers little-endian, no padding):
 *   0   magic "CDCKPT01"                        8 bytes
 *   8   u32 format version (CD_CKPT_VERSION)
 *   12  u32 numerics length (version 2; 0 in version 1, which has no numerics)
 *   16  u64 file length in bytes (including the trailing CRC)
 *   24  u64 model-config hash (the caller's)
 *   32  u64 epoch
 *   40  u64 step
 *   48  u64 rng_len
 *   56  u64 ntensors
 *   64  rng state: rng_len bytes (the caller's blob)
 *       numerics: the numeric fingerprint of the process that computed the tensors
 *                 (fingerprint.h; ASCII, no NUL; empty when no arithmetic produced them)
 *       ntensors entries: u32 name_len, name (no NUL), u32 ndim, u64 dims[ndim],
 *                         float32 data[product(dims)]
 *   end u32 CRC-32C (common/crc32c.h) of every byte before it
 *
 * Tensor names are 1..CD_CKPT_NAME_MAX bytes of [A-Za-z0-9_.-], not starting with '.', and
 * unique (export uses them as file names). The reader treats a file as hostile: it checks
 * magic, version, length, CRC and then every length field against the bytes left before it
 * allocates. Writes are atomic: PATH.tmp, write, fsync, rename, fsync of the directory.
 * Knows nothing of layers or optimizers: the caller chooses names ("conv1.w",
 * "conv1.w.exp_avg", "bn1.running_mean") and checks shapes.
 */
#ifndef CD_CKPT_H
#define CD_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"
#include "fingerprint.h"

#define CD_CKPT_MAGIC "CDCKPT01"
#define CD_CKPT_VERSION 2u /* writes 2, reads 1 and 2 */
#define CD_CKPT_HEADER_LEN 64
#define CD_CKPT_MAXDIM 8
#define CD_CKPT_NAME_MAX 200

typedef struct cd_ckpt_tensor {
    char *name;                    /* owned, NUL-terminated */
    int ndim;                      /* 0..CD_CKPT_MAXDIM */
    uint64_t dims[CD_CKPT_MAXDIM]; /* [ndim] */
    uint64_t n;                    /* product(dims) elements */
    const float *data;             /* [n]; borrowed after cd_ckpt_add, owned after a read */
    float *owned;                  /* data when the checkpoint owns it, else NULL */
} cd_ckpt_tensor;

/* A checkpoint in memory: filled by the caller and written, or filled by cd_ckpt_read. */
typedef struct cd_ckpt {
    uint64_t config_hash;
    uint64_t epoch;
    uint64_t step;
    uint8_t *rng; /* [rng_len], owned */
    size_t rng_len;
    char numerics[CD_FP_MAX]; /* numeric fingerprint, "" when none */
    cd_ckpt_tensor *tensors;  /* [ntensors], in file order */
    size_t ntensors;
    size_t cap;
} cd_ckpt;

/* An empty checkpoint (all zero). */
void cd_ckpt_init(cd_ckpt *ck);
/* Free everything the checkpoint owns and leave it empty; safe twice. */
void cd_ckpt_free(cd_ckpt *ck);

/* Replace the RNG state with a copy of rng[len]. */
cd_code cd_ckpt_set_rng(cd_ckpt *ck, const void *rng, size_t len, cd_err *err);
/* Append a tensor of shape dims[ndim]. data is borrowed, not copied: it must stay valid and
 * unchanged until cd_ckpt_write. CD_EINVAL for a bad or duplicate name or a bad ndim. */
cd_code cd_ckpt_add(cd_ckpt *ck, const char *name, int ndim, const uint64_t *dims,
                    const float *data, cd_err *err);
/* The tensor called name, or NULL. */
const cd_ckpt_tensor *cd_ckpt_find(const cd_ckpt *ck, const char *name);
/* 1 when name is a valid tensor name. */
int cd_ckpt_name_ok(const char *name);

/* Write ck to path atomically. When writing PATH.tmp fails, path is untouched and PATH.tmp
 * removed; a failed fsync of the directory after the rename is reported (CD_EIO) too. */
cd_code cd_ckpt_write(const cd_ckpt *ck, const char *path, cd_err *err);
/* The bytes cd_ckpt_write would write, into *buf (malloc'd, *len bytes). */
cd_code cd_ckpt_image(const cd_ckpt *ck, uint8_t **buf, size_t *len, cd_err *err);
/* Read and validate path into *out (initialized here; cd_ckpt_free it in every case).
 * CD_ECORRUPT for a bad magic, length, CRC or entry; CD_EUNSUPPORTED for another format
 * version; CD_EIO when the file cannot be read. Messages name the path. */
cd_code cd_ckpt_read(const char *path, cd_ckpt *out, cd_err *err);
/* Validate and decode a checkpoint image buf[len]; path is only used in messages. */
cd_code cd_ckpt_parse(const uint8_t *buf, size_t len, const char *path, cd_ckpt *out, cd_err *err);
/* CD_EINVAL unless ck was written for the model config with this hash. */
cd_code cd_ckpt_check_config(const cd_ckpt *ck, const char *path, uint64_t config_hash,
                             cd_err *err);

/* Write every tensor as DIR/<name>.npy ('<f4', its shape); creates DIR if missing. */
cd_code cd_ckpt_export(const cd_ckpt *ck, const char *dir, cd_err *err);
/* Read DIR/<name>.npy into dst[product(dims)]: must be '<f4' of exactly shape dims[ndim].
 * CD_ENOTFOUND when the file is missing, CD_EINVAL for another dtype or shape. */
cd_code cd_ckpt_import_tensor(const char *dir, const char *name, int ndim, const uint64_t *dims,
                              float *dst, cd_err *err);

#endif
