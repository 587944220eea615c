/*
 * fuzz_model.c: libFuzzer target for the model file parser (trainer/model.c over libinih):
 * cerebro-train reads model files from the command line and, under cerebro-sched, from its
 * standard input (--stdio).
 *
 * Input: the text of a model file. Checks: cd_model_parse returns CD_OK or CD_EINVAL only;
 * an accepted model has 1..CD_MODEL_MAXLAYERS layers that chain (each layer's input is the
 * one before's output), every shape of 1 or 3 positive dimensions whose values per row fit an
 * int, params the sum of the layers' (none negative), a last layer that gives what the loss
 * needs, and the same hash when parsed again; text with a NUL byte, a line longer than inih
 * reads whole or an indented line after a key (inih's next value of that key) is refused.
 * Seeds: tests/fuzz/seeds/fuzz_model/, the model files of conf/models as they were when the
 * target was added.
 * Does not: build the network (net.c) or test cd_model_load's file reading.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ini_lines.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A shape of 1 or 3 positive dimensions with at most INT_MAX values. */
static int shape_ok(const cd_shape *s)
{
    int64_t n = 1;
    if (s->ndim != 1 && s->ndim != 3)
        return 0;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 1 || n > INT_MAX / s->d[i])
            return 0;
        n *= s->d[i];
    }
    return 1;
}

static void check_model(const cd_model_spec *m, const uint8_t *data, size_t size)
{
    int64_t params = 0;
    if (m->nlayers < 1 || m->nlayers > CD_MODEL_MAXLAYERS || !shape_ok(&m->input))
        abort();
    for (int i = 0; i < m->nlayers; i++) {
        const cd_layer *l = &m->layers[i];
        const cd_shape *in = i == 0 ? &m->input : &m->layers[i - 1].out;
        if (memcmp(&l->in, in, sizeof *in) != 0 || !shape_ok(&l->out) || l->params < 0 ||
            l->params > INT64_MAX - params)
            abort();
        params += l->params;
    }
    const cd_shape *last = &m->layers[m->nlayers - 1].out;
    int want = m->loss == CD_LOSS_SOFTMAX_XENT ? m->classes : 1;
    if (params != m->params || last->ndim != 1 || last->d[0] != want)
        abort();
    cd_model_spec again;
    cd_err err;
    if (cd_model_parse("fuzz", (const char *)data, size, &again, &err) != CD_OK ||
        again.hash != m->hash)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_model_spec *m = malloc(sizeof *m);
    if (m == NULL)
        return 0;
    cd_err err;
    cd_code rc = cd_model_parse("fuzz", (const char *)data, size, m, &err);
    if (rc == CD_OK && (!fuzz_ini_readable(data, size, CD_INI_MAX_LINE - 2) ||
                        fuzz_ini_continues((const char *)data, size)))
        abort(); /* a NUL byte, a line inih would cut or a continued value: other text */
    if (rc == CD_OK)
        check_model(m, data, size);
    else if (rc != CD_EINVAL)
        abort();
    free(m);
    return 0;
}
