/*
 * augment.c: random crop and horizontal flip of image rows by counter-based draws (see
 * augment.h).
 */
#include "augment.h"

#include <string.h>

#include "hash.h"

#define AUGMENT_SALT 0x6175676D656E7421ull /* "augment!" */

bool cd_augment_active(const cd_augment *a)
{
    return a->crop_pad > 0 || a->hflip;
}

uint64_t cd_augment_shard_key(const char *shard_name)
{
    return cd_fnv1a(shard_name, CD_FNV_OFFSET);
}

/* splitmix64 of t, the state left alone */
static uint64_t mix(uint64_t t)
{
    return cd_splitmix64(&t);
}

cd_augment_draw cd_augment_decide(const cd_augment *a, uint64_t seed, uint64_t epoch,
                                  uint64_t shard_key, uint64_t row)
{
    uint64_t h = mix(seed ^ AUGMENT_SALT);
    h = mix(h ^ epoch);
    h = mix(h ^ shard_key);
    h = mix(h ^ row);
    uint64_t r0 = cd_splitmix64(&h), r1 = cd_splitmix64(&h), r2 = cd_splitmix64(&h);
    uint64_t span = 2 * (uint64_t)a->crop_pad + 1;
    cd_augment_draw d = {.dy = (int)(r0 % span), .dx = (int)(r1 % span), .flip = false};
    d.flip = a->hflip && (r2 >> 63) != 0;
    return d;
}

/* One channel: dst[y][x] = padded[y + dy][x' + dx], x' = flip ? w - 1 - x : x, where
 * padded[i][j] = src[i - P][j - P] inside the image and 0 outside. */
static void apply_plane(const cd_augment_draw *d, int pad, int h, int w, const float *src,
                        float *dst)
{
    for (int y = 0; y < h; y++) {
        int sy = y + d->dy - pad;
        float *out = dst + (size_t)y * w;
        if (sy < 0 || sy >= h) {
            memset(out, 0, (size_t)w * sizeof *out);
            continue;
        }
        const float *in = src + (size_t)sy * w;
        for (int x = 0; x < w; x++) {
            int sx = (d->flip ? w - 1 - x : x) + d->dx - pad;
            out[x] = sx >= 0 && sx < w ? in[sx] : 0.0f;
        }
    }
}

void cd_augment_apply(const cd_augment *a, const cd_augment_draw *d, int c, int h, int w,
                      const float *src, float *dst)
{
    size_t plane = (size_t)h * w;
    for (int i = 0; i < c; i++)
        apply_plane(d, a->crop_pad, h, w, src + i * plane, dst + i * plane);
}
