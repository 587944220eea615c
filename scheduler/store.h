/*
 * store.h: [scheduler] model_store = copy (workload.h): a unit's model file and checkpoints
 * travel through the launcher instead of a shared file system; this host keeps the only
 * copies, in the job directory (job.h).
 *
 * Before a unit, its request (the trial's model file and the unit's input checkpoint,
 * framed and checksummed: common/xfer.h) is written to DIR/xfer/N-UNIT.req, the trainer's
 * stdin; `cerebro-train train --stdio` (on the worker's host, over the unit's own ssh
 * connection, or here with the local launcher) answers on its stdout, which goes to
 * DIR/xfer/N-UNIT.ans. After the trainer exits 0 the answer is verified (every frame's
 * CRC-32C, then the checkpoint's own CRC and layout, and its epoch) and only then stored:
 * the output checkpoint atomically (atomicfile.h) where model_store = shared would have it,
 * the result line as the unit's JSON log. run.c removes both files when the unit ends,
 * whatever its outcome, and a run empties DIR/xfer/ when it starts (a killed scheduler
 * leaves them). Nothing is written on the worker's host. Validation on a worker host (a
 * citus: valid) sends the same request to `cerebro-train eval --stdio`, whose answer holds
 * the result line only.
 */
#ifndef CD_STORE_H
#define CD_STORE_H

#include <stdint.h>

#include "cd_err.h"

/* Create DIR/xfer, removing what an earlier run left in it. */
cd_code cd_store_prepare(const char *job_dir, cd_err *err);

/* Write the request of a unit (model file, input checkpoint) to path; *bytes: its size. */
cd_code cd_store_request(const char *path, const char *model, const char *ckpt, uint64_t *bytes,
                         cd_err *err);

/* Verify the answer at path (what names it in messages: "the answer of worker 1 (host)") of a
 * unit of epoch `epoch`; then store its checkpoint at ckpt (atomically) and its result line
 * at json. CD_ECORRUPT for a damaged, cut or foreign answer; nothing is stored then. */
cd_code cd_store_answer(const char *path, const char *what, int epoch, const char *ckpt,
                        const char *json, cd_err *err);

/* The answer of `cerebro-train eval --stdio` (validation on a worker host): its one frame,
 * the result line, verified and stored at json. CD_ECORRUPT as above. */
cd_code cd_store_result(const char *path, const char *what, const char *json, cd_err *err);

#endif
