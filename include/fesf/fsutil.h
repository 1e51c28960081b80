/* Small file-system helpers. */
#ifndef FESF_FSUTIL_H
#define FESF_FSUTIL_H

/* mkdir -p with owner-only folders (0700); 0 or -1 with a message naming the folder. */
int fesf_mkdir_p(const char *path);

/* A text file written atomically: fesf_atomic_open opens PATH.tmp for
 * writing (NULL with a message); fesf_atomic_commit closes it and renames it
 * to PATH (0, or -1 with a message; the .tmp is removed). A reader never
 * sees a half-written PATH. */
#include <stdio.h>
FILE *fesf_atomic_open(const char *path);
int fesf_atomic_commit(FILE *f, const char *path);
/* Give up PATH.tmp (closes f when not NULL, removes the .tmp). */
void fesf_atomic_abort(FILE *f, const char *path);

/* Every NAME.tmp this process is writing is tracked from creation to commit
 * or abort (the atomic text files here, the HDF5 files of h5io.c), so that
 * none outlives a failure: fesf_tmp_remove_all() unlinks them (the top
 * level calls it before ending the job), and after
 * fesf_tmp_remove_on_signals() SIGTERM (what mpirun sends the other ranks
 * when one aborts, and SLURM before a time limit), SIGINT and SIGHUP do too
 * before the process dies of the signal. */
void fesf_tmp_track(const char *tmp);
void fesf_tmp_untrack(const char *tmp);
void fesf_tmp_remove_all(void);
void fesf_tmp_remove_on_signals(void);

#endif
