/*
 * journal.h: DIR/journal, the job's write-ahead record: one text line per event, appended
 * and fsynced before the scheduler makes its next decision, read back by resume and status.
 *
 *   cerebro-sched journal 1                                   (first line)
 *   unit  MODEL EPOCH SHARD WORKER START END ATTEMPT ROWS LOSS ACCURACY [CHECK NUMERICS
 *         [BYTES_IN BYTES_OUT [CUT CONTENT]]]
 *   fail  MODEL EPOCH SHARD WORKER START END ATTEMPT REASON [BYTES_IN BYTES_OUT]
 *   valid MODEL EPOCH LOSS ACCURACY
 *   out   WORKER REASON...
 *   diverged MODEL EPOCH
 *   cut   CUT                      the cluster cut every worker host showed before a run's
 *                                  first unit (a citus: train; cluster.h)
 *   changed SHARD WORKER REASON    a unit read another snapshot of the shard than the job's
 *                                  earlier units, and the job went on (on_snapshot_change)
 *   trialout MODEL REASON          the trial was taken out of this run: its units kept
 *                                  failing on workers that trained other trials in between
 *                                  (job.h); a resume gives it a new chance
 *   done
 * CHECK (same | differs | none) and NUMERICS (the unit's numeric fingerprint, fingerprint.h)
 * are absent in journals of earlier versions (read as none and ""), and so are BYTES_IN and
 * BYTES_OUT (read as 0): the bytes of the unit's request and answer under model_store = copy
 * (store.h; 0 under shared), and CUT and CONTENT (what the unit's shard meta file named,
 * "-" for nothing; read as ""). A REASON holds no tab.
 * Fields are separated by one tab; START/END are wall-clock seconds (CLOCK_REALTIME). A
 * last line without its newline (a crash mid-append) is ignored, and cut off when the journal
 * is next opened to append (a failed append is cut at once); anything else malformed is
 * an error naming the line.
 */
#ifndef CD_JOURNAL_H
#define CD_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "fingerprint.h"

typedef enum cd_jkind {
    CD_J_UNIT,
    CD_J_FAIL,
    CD_J_VALID,
    CD_J_OUT,
    CD_J_DIVERGED,
    CD_J_DONE,
    CD_J_CUT,
    CD_J_CHANGED,
    CD_J_TRIAL_OUT
} cd_jkind;

typedef enum cd_numerics_check {
    CD_NUM_NONE,   /* nothing to compare with (or an older journal) */
    CD_NUM_SAME,   /* the unit ran with its input checkpoint's fingerprint */
    CD_NUM_DIFFERS /* it did not: its bits may depend on where it ran */
} cd_numerics_check;

typedef struct cd_jrec {
    cd_jkind kind;
    int model, epoch, shard, worker, attempt;
    double start, end;
    uint64_t rows;
    double loss, accuracy;
    char reason[256];
    cd_numerics_check check; /* unit */
    char numerics[CD_FP_MAX];
    uint64_t bytes_in, bytes_out; /* unit, fail: moved to and from the worker (model_store) */
    char cut[128], content[128];  /* unit: what its shard's meta named ("": nothing); cut */
} cd_jrec;

/* "same", "differs", "none". */
const char *cd_numerics_check_name(cd_numerics_check c);

typedef struct cd_journal cd_journal;

/* Open path for appending (creating it with its first line when missing). */
cd_code cd_journal_open(cd_journal **out, const char *path, cd_err *err);
/* Append r and fsync. */
cd_code cd_journal_append(cd_journal *j, const cd_jrec *r, cd_err *err);
void cd_journal_close(cd_journal **j);

/* Read every record of path into *recs (malloc'd, *n records). A missing file: CD_ENOTFOUND. */
cd_code cd_journal_read(const char *path, cd_jrec **recs, int *n, cd_err *err);

#endif
