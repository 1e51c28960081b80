/* Small file-system helpers. */
#ifndef FESF_FSUTIL_H
#define FESF_FSUTIL_H

/* mkdir -p with owner-only folders (0700); 0 or -1 with a message naming the folder. */
int fesf_mkdir_p(const char *path);

/* A file written atomically: fesf_atomic_open returns a stream that composes
 * PATH in memory (NULL with a message); fesf_atomic_commit checks that every
 * write to it succeeded, writes it to PATH.tmp (each write(2) checked),
 * fsyncs and closes it, renames it to PATH and fsyncs PATH's folder (0, or
 * -1 with a message naming PATH and the system's reason, e.g. "cannot write
 * 'RUN/report.md': No space left on device"; no .tmp is left and PATH stays
 * as it was). A reader never sees a half-written PATH, and a committed PATH
 * survives a power cut. The stream is not a file: no fileno(), no seeking. */
#include <stdio.h>
FILE *fesf_atomic_open(const char *path);
int fesf_atomic_commit(FILE *f, const char *path);
/* Give up the file (closes f when not NULL; nothing of it reached the disk). */
void fesf_atomic_abort(FILE *f, const char *path);

/* A file written a line at a time (metrics.jsonl): opened for appending, or
 * emptied (truncate), the file and its folder fsynced; NULL with a message.
 * After each line, fesf_file_sync. */
FILE *fesf_append_open(const char *path, int truncate);
/* Every write to f so far succeeded (ferror), and its data is on disk
 * (fflush, fsync): 0, or -1 with "cannot write 'PATH': REASON". */
int fesf_file_sync(FILE *f, const char *path);
/* fsync the folder that holds PATH (makes a rename or creation in it
 * durable): 0, or -1 with a message. A folder whose file system cannot
 * fsync one (EINVAL) counts as synced. */
int fesf_fsync_parent(const char *path);

/* Every NAME.tmp this process is writing is tracked from creation to commit
 * or abort (the atomic text files here, the HDF5 files of h5io.c), so that
 * none outlives a failure: fesf_tmp_remove_all() unlinks them (the top
 * level calls it before ending the job), and after
 * fesf_tmp_remove_on_signals() SIGTERM (what mpirun sends the other ranks
 * when one aborts, and SLURM before a time limit), SIGINT, SIGHUP and SIGUSR1 do too
 * before the process dies of the signal. */
void fesf_tmp_track(const char *tmp);
void fesf_tmp_untrack(const char *tmp);
void fesf_tmp_remove_all(void);
void fesf_tmp_remove_on_signals(void);

/* HDF5 started for this process (src/io/h5io.c): called by main() before
 * MPI starts, so that HDF5 runs no clean-up of its own at exit or in
 * MPI_Finalize (HDF5 1.10 crashes there after a write failed on a full
 * disk; fesf closes every file it writes itself). */
void fesf_h5_start(void);

/* Pre-emption: between fesf_stop_defer(1) and fesf_stop_defer(0) (a
 * training's rounds), SIGTERM, SIGINT and SIGUSR1 do not end the process: the
 * handler only records the first of them (a volatile sig_atomic_t), and
 * fesf_stop_requested() returns it (0: none) for the caller to act on at a
 * safe point. fesf_signal_name: "SIGTERM", "SIGINT", "SIGUSR1".
 * Outside those rounds SIGUSR1, like SIGTERM, removes the .tmp files and
 * ends the process. */
void fesf_stop_defer(int on);
int fesf_stop_requested(void);
const char *fesf_signal_name(int sig);

#endif
