/*
 * fingerprint.h: the numeric fingerprint of a trainer process: what decides the bits of its
 * floating-point results. Bit-identical MOP (DESIGN 5, Numerics) holds only while every unit
 * of a model runs with the same fingerprint.
 *
 * Text, one line of space-separated key=value fields, in this order:
 *   version=<cerebro-train version> backend=cpu blas=<library>-<version> core=<kernel> threads=<T>
 *   version=<...> backend=cuda device=<name> cc=<major>.<minor> cudnn=<v> cublas=<v>
 * Values hold only [A-Za-z0-9._:+-] (anything else becomes '_'), so the line is safe in JSON,
 * in tab-separated journals and in CSV. At most CD_FP_MAX - 1 bytes.
 * Shared by cerebro-train (which records its own in checkpoints and result lines) and
 * cerebro-sched (which computes the one a CPU worker should have: its own, since it passes
 * its kernel choice and thread count to every launch). Knows nothing of checkpoints or jobs.
 */
#ifndef CD_FINGERPRINT_H
#define CD_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

#define CD_FP_MAX 256

/* The OpenBLAS kernel this process selected ("Haswell", "Zen", ...). */
const char *cd_blas_core(void);
/* true when this CPU can run the OpenBLAS kernel called core (case-insensitive): it is
 * this process's own, or a known x86-64 kernel whose instructions the CPU has. */
bool cd_blas_core_runs_here(const char *core);
/* true when core names this process's kernel or a known x86-64 one (case-insensitive). */
bool cd_blas_core_known(const char *core);
/* "OpenBLAS-0.3.21": the library and its version. */
void cd_blas_version(char *buf, size_t size);

/* The CPU backend's part ("backend=cpu blas=... core=...") into buf. */
void cd_fp_cpu_backend(char *buf, size_t size);
/* The whole fingerprint: version, the backend's part, and for the CPU the thread count
 * (threads 0 = one per online CPU, resolved here as cd_par_set_threads does). */
void cd_fp_make(char *buf, size_t size, const char *backend_part, bool cpu, int threads);
/* Append " key=value" to buf with value sanitized as above. */
void cd_fp_add(char *buf, size_t size, const char *key, const char *value);
/* true when s is a well-formed fingerprint line (or empty): printable, no tab or quote. */
bool cd_fp_valid(const char *s);

#endif
