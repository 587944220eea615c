/*
 * fuzz_journal.c: libFuzzer target for the job journal reader (scheduler/journal.c), which
 * resume and status run on whatever a crash, a full disk or a hand edit left in DIR/journal.
 *
 * Input: the journal file, served from a memory file (memfd) through its /proc/self/fd path.
 * Checks: cd_journal_read returns CD_OK or CD_ECORRUPT only and leaves no records when it
 * fails; a NUL byte before the last line is an error, never the silent end of the journal;
 * the records of an accepted journal, appended to a new one, read back to records that
 * append and read back to themselves (the writer's format is a fixed point of the reader).
 * Seeds: tests/fuzz/seeds/fuzz_journal/, journals in the format of journal.h: every record
 * kind, an older unit line, a torn last line.
 * Does not: test cd_journal_append's fsync or a journal being appended to while read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* recs[n] appended to a new journal (an empty memory file) and read back into *out (*nout). */
static void rewrite(const cd_jrec *recs, int n, cd_jrec **out, int *nout)
{
    char path[64];
    cd_journal *j = NULL;
    cd_err err;
    int fd = fuzz_mem_file(NULL, 0, NULL, 0, path);
    if (fd < 0)
        abort();
    if (cd_journal_open(&j, path, &err) != CD_OK)
        abort();
    for (int i = 0; i < n; i++)
        if (cd_journal_append(j, &recs[i], &err) != CD_OK)
            abort();
    cd_journal_close(&j);
    if (cd_journal_read(path, out, nout, &err) != CD_OK || *nout != n)
        abort();
    close(fd);
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0; /* NaN read back is NaN */
}

static int same_rec(const cd_jrec *a, const cd_jrec *b)
{
    return a->kind == b->kind && a->model == b->model && a->epoch == b->epoch &&
           a->shard == b->shard && a->worker == b->worker && a->attempt == b->attempt &&
           same_double(a->start, b->start) && same_double(a->end, b->end) && a->rows == b->rows &&
           same_double(a->loss, b->loss) && same_double(a->accuracy, b->accuracy) &&
           strcmp(a->reason, b->reason) == 0 && a->check == b->check &&
           strcmp(a->numerics, b->numerics) == 0 && a->bytes_in == b->bytes_in &&
           a->bytes_out == b->bytes_out && strcmp(a->cut, b->cut) == 0 &&
           strcmp(a->content, b->content) == 0;
}

/* A NUL byte with a newline after it (not in the last line). */
static int nul_inside(const uint8_t *data, size_t size)
{
    const uint8_t *z = memchr(data, '\0', size);
    return z != NULL && memchr(z, '\n', size - (size_t)(z - data)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_mem_file(data, size, NULL, 0, path);
    if (fd < 0)
        return 0;
    cd_jrec *recs = NULL, *once = NULL, *twice = NULL;
    int n = 0, n1 = 0, n2 = 0;
    cd_err err;
    cd_code rc = cd_journal_read(path, &recs, &n, &err);
    close(fd);
    if (rc == CD_OK) {
        if (nul_inside(data, size))
            abort();
        rewrite(recs, n, &once, &n1);
        rewrite(once, n1, &twice, &n2);
        for (int i = 0; i < n1; i++)
            if (!same_rec(&once[i], &twice[i]))
                abort();
    } else if (rc != CD_ECORRUPT || recs != NULL || n != 0) {
        abort();
    }
    free(twice);
    free(once);
    free(recs);
    return 0;
}
