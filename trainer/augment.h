/*
 * augment.h: training-time augmentation of image rows (C, H, W), as torchvision's
 * RandomCrop(size=(H, W), padding=P) followed by RandomHorizontalFlip(p=0.5): the image is
 * zero-padded by P on every side, an H x W window at (top dy, left dx), each uniform in
 * [0, 2P], is cut out of it, then mirrored left-right with probability 1/2. The same window
 * and flip apply to every channel.
 *
 * The draws are a counter-based function of (seed, epoch, shard, row index within the
 * shard), never of a stateful generator: the same row of the same shard in the same epoch is
 * augmented the same way whatever the batch, thread, prefetch timing or unit it falls in,
 * so a unit per shard stays bit-identical to one unit over all the shards (MOP). With h the
 * 64-bit state and mix(t) = splitmix64 of t (common/hash.h: one call of cd_splitmix64 on a
 * copy of t):
 *
 *   h = mix(seed ^ 0x6175676D656E7421)          the salt spells "augment!"
 *   h = mix(h ^ epoch); h = mix(h ^ fnv1a(shard name)); h = mix(h ^ row)
 *   r0, r1, r2 = the next three cd_splitmix64(&h)
 *   dy = r0 % (2P + 1), dx = r1 % (2P + 1), flip = r2 >> 63
 *
 * (all three drawn whatever is enabled, so turning the flip on does not move the crops).
 * Does not: decide when to augment (data.c does, for training batches only).
 */
#ifndef CD_AUGMENT_H
#define CD_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

/* All zero: no augmentation. */
typedef struct cd_augment {
    int crop_pad; /* P: random crop after zero padding by P on each side; 0: no crop */
    bool hflip;   /* horizontal flip with probability 1/2 */
} cd_augment;

/* What happens to one row. */
typedef struct cd_augment_draw {
    int dy, dx; /* top-left of the window in the padded image, in [0, 2P]; P, P: no shift */
    bool flip;
} cd_augment_draw;

bool cd_augment_active(const cd_augment *a);
/* The key of a shard in the draws: FNV-1a of its name (the directory's last component). */
uint64_t cd_augment_shard_key(const char *shard_name);
/* The draw of row (its index within the shard) of the shard with key shard_key. */
cd_augment_draw cd_augment_decide(const cd_augment *a, uint64_t seed, uint64_t epoch,
                                  uint64_t shard_key, uint64_t row);
/* dst[c * h * w] = src[c * h * w] cropped and flipped as d says (dst != src). */
void cd_augment_apply(const cd_augment *a, const cd_augment_draw *d, int c, int h, int w,
                      const float *src, float *dst);

#endif
