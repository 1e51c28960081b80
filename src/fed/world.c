/* MPI start-up and job-wide helpers (see world.h). */
#include "fesf/world.h"
#include "mpi_world.h"
#include "fesf/error.h"
#include "fesf/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounded waits (world.h): the timeout, where the job is, and the sites' grace. */
#define SITE_GRACE 5.0
#define ROLL_GRACE 2.0 /* the coordinator's roll call after a collective's timeout */
#define MEET_TAG 7
#define ROLL_TAG 8
static struct {
    double timeout;
    char phase[96];
} bound;

/* The roll call: after a collective's deadline the coordinator asks every
 * site on the meeting communicator whether it is there; a site answers from
 * any bounded wait (its receive stays posted), so the one that does not
 * answer is the one that stalled, wherever it stopped. */
static struct {
    MPI_Comm comm; /* the meeting communicator */
    int site;      /* this rank answers (it is not the coordinator) */
    MPI_Request req;
    char ping;
} roll = {MPI_COMM_NULL, 0, MPI_REQUEST_NULL, 0};

static int meet(const fesf_world *w);
static int finish(MPI_Request *req, int met);

int fesf_world_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int fesf_world_init(fesf_world *w, int *argc, char ***argv)
{
    w->rank = 0;
    w->size = 1;
    if (!(w->mpi = malloc(sizeof *w->mpi))) return fesf_error("out of memory");
    w->mpi->comm = w->mpi->meet = w->mpi->site = MPI_COMM_NULL;
    w->mpi->per_site = 1;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return fesf_error("MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &w->mpi->comm) != MPI_SUCCESS || MPI_Comm_dup(MPI_COMM_WORLD, &w->mpi->meet) != MPI_SUCCESS)
        return fesf_error("MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(w->mpi->comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(w->mpi->meet, MPI_ERRORS_RETURN);
    MPI_Comm_rank(w->mpi->comm, &w->rank);
    MPI_Comm_size(w->mpi->comm, &w->size);
    roll.comm = w->mpi->meet, roll.site = w->rank > 0;
    char role[32];
    if (w->rank == 0) snprintf(role, sizeof role, "coord");
    else snprintf(role, sizeof role, "site %d", w->rank);
    fesf_log_set_role(role);
    return 0;
}

void fesf_world_finalize(fesf_world *w)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (!up || down) return;
    if (roll.req != MPI_REQUEST_NULL) { /* the roll call's receive that no call came to */
        MPI_Cancel(&roll.req);
        MPI_Wait(&roll.req, MPI_STATUS_IGNORE);
    }
    roll.comm = MPI_COMM_NULL;
    if (w->mpi && w->mpi->comm != MPI_COMM_NULL) MPI_Comm_free(&w->mpi->comm);
    if (w->mpi && w->mpi->meet != MPI_COMM_NULL) MPI_Comm_free(&w->mpi->meet);
    if (w->mpi && w->mpi->site != MPI_COMM_NULL) MPI_Comm_free(&w->mpi->site);
    free(w->mpi);
    w->mpi = NULL;
    MPI_Finalize();
}

void fesf_world_abort(const fesf_world *w, int code)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down && w->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

/* The failure the ranks agreed on: who reports it, the exit code, and this
 * rank's message then (a later, unrelated error does not match it). */
static struct {
    int set, reporter, code;
    char msg[FESF_ERRMSG_MAX];
} together;

int fesf_world_fail_together(const fesf_world *w, int reporter, int code)
{
    if (w->rank != reporter) fesf_error("rank %d reports the failure", reporter);
    together.set = 1, together.reporter = reporter, together.code = code;
    snprintf(together.msg, sizeof together.msg, "%s", fesf_errmsg());
    return -1;
}

int fesf_world_agree(const fesf_world *w, int failed, int code)
{
    int mine[2] = {failed ? w->rank : w->size, failed ? -code : 0}, all[2] = {mine[0], mine[1]};
    MPI_Request req;
    int met = meet(w);
    if (met < 0) return -1;
    if (w->size > 1) {
        if (MPI_Iallreduce(mine, all, 2, MPI_INT, MPI_MIN, fesf_world_comm(w), &req) != MPI_SUCCESS)
            return fesf_error("MPI_Iallreduce failed");
        if (finish(&req, met)) return -1;
    }
    return all[0] == w->size ? 0 : fesf_world_fail_together(w, all[0], -all[1]);
}

int fesf_world_failed_together(int *code)
{
    if (!together.set || !strstr(fesf_errmsg(), together.msg)) return -1;
    *code = together.code;
    return together.reporter;
}

void fesf_world_set_timeout(double seconds) { bound.timeout = seconds > 0 ? seconds : 0; }

void fesf_world_set_phase(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bound.phase, sizeof bound.phase, fmt, ap);
    va_end(ap);
}

int fesf_world_bounded(void) { return bound.timeout > 0; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The deadline of a wait that starts now (0: none); sites wait longer than the coordinator. */
static double deadline(int rank) { return bound.timeout > 0 ? now_s() + bound.timeout + (rank ? SITE_GRACE : 0) : 0; }

/* " in round 7 of repeat 1", or "" */
static const char *where(void)
{
    static char buf[sizeof bound.phase + 8];
    snprintf(buf, sizeof buf, "%s%s", bound.phase[0] ? " in " : "", bound.phase);
    return buf;
}

/* A site in a bounded wait: answer the coordinator's roll call if it came,
 * and keep a receive posted for the next. */
static void answer_roll(void)
{
    static const char here = 1;
    int came = 0;
    if (!roll.site || roll.comm == MPI_COMM_NULL || bound.timeout <= 0) return;
    if (roll.req != MPI_REQUEST_NULL && (MPI_Test(&roll.req, &came, MPI_STATUS_IGNORE) != MPI_SUCCESS || !came)) return;
    if (came) {
        MPI_Request r;
        if (MPI_Isend(&here, 1, MPI_CHAR, 0, ROLL_TAG, roll.comm, &r) == MPI_SUCCESS) MPI_Request_free(&r);
    }
    if (MPI_Irecv(&roll.ping, 1, MPI_CHAR, 0, ROLL_TAG, roll.comm, &roll.req) != MPI_SUCCESS) roll.req = MPI_REQUEST_NULL;
}

/* Wait for n requests until `until` (0: forever): 0, 1 when it passed, -1 on an MPI error.
 * Spin briefly, then sleep 0.2 ms; after ~1 s (a long wait, e.g. the sites while the
 * coordinator trains the audit's attacker) sleep 2 ms; busy: never sleep. */
static int wait_all(int n, MPI_Request *reqs, double until, int busy)
{
    const struct timespec nap = {0, 200000}, long_nap = {0, 2000000};
    int done = 0;
    long polls = 0;
    while (!done) {
        if (MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS) return fesf_error("MPI wait failed");
        if (done) break;
        ++polls;
        if (!busy || polls % 256 == 0) answer_roll();
        if (!busy && polls > 50) nanosleep(polls > 5000 ? &long_nap : &nap, NULL);
        if (until > 0 && (!busy || polls % 1024 == 0) && now_s() > until) return 1;
    }
    return 0;
}

static void missing_ranks(int size, MPI_Request *reqs, char *buf, size_t len);

/* The coordinator, after a collective's deadline: which sites answer a roll
 * call within ROLL_GRACE s? 0 with the silent ones in `who` ("rank 3"), 1
 * if every site answered, -1 on an MPI error. */
static int roll_call(char *who, size_t len)
{
    int size = 1, n, rc = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    n = size - 1;
    MPI_Request *r = malloc(sizeof *r * 2 * (size_t)n);
    static const char ping = 1;
    char *got = malloc((size_t)n + 1);
    if (!r || !got) return free(r), free(got), -1;
    MPI_Comm c = roll.comm;
    for (int i = 0; i < n; i++) r[i] = r[n + i] = MPI_REQUEST_NULL;
    for (int i = 0; i < n && !rc; i++)
        if (MPI_Irecv(&got[i], 1, MPI_CHAR, i + 1, ROLL_TAG, c, &r[i]) != MPI_SUCCESS ||
            MPI_Isend(&ping, 1, MPI_CHAR, i + 1, ROLL_TAG, c, &r[n + i]) != MPI_SUCCESS)
            rc = -1;
    if (!rc) {
        int late = wait_all(n, r, now_s() + ROLL_GRACE, 0);
        rc = late > 0 ? 0 : late < 0 ? -1 : 1;
    }
    if (!rc) missing_ranks(size, r, who, len);
    for (int i = 0; i < n; i++) { /* the silent ranks' receives (cancelled: `got` is freed) and sends */
        if (r[i] != MPI_REQUEST_NULL) MPI_Cancel(&r[i]), MPI_Wait(&r[i], MPI_STATUS_IGNORE);
        if (r[n + i] != MPI_REQUEST_NULL) MPI_Request_free(&r[n + i]);
    }
    free(r), free(got);
    return rc;
}

static int wait_one(MPI_Request *req, int busy)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rc = wait_all(1, req, deadline(rank), busy);
    char who[300];
    int called = rc > 0 && rank == 0 ? roll_call(who, sizeof who) : -1;
    if (called == 0)
        return fesf_error("timeout: %s did not answer the coordinator within %g s after a collective did not "
                          "complete within %g s (run.timeout)%s", who, ROLL_GRACE, bound.timeout, where());
    if (called == 1)
        return fesf_error("timeout: a collective did not complete within %g s (run.timeout)%s, though every rank "
                          "answers: the transfer is slow (raise run.timeout)", bound.timeout, where());
    if (rc > 0)
        return fesf_error("timeout: the ranks did not all take part in a collective within %g s (run.timeout%s)%s",
                          bound.timeout + (rank ? SITE_GRACE : 0), rank ? " + 5 s" : "", where());
    return rc;
}

int fesf_world_wait(MPI_Request *req) { return wait_one(req, 0); }

int fesf_world_wait_busy(MPI_Request *req) { return wait_one(req, 1); }

/* A small collective's request: waited for with sleeps, or under a timeout
 * after the gathered barrier (which names who is missing), without. */
static int finish(MPI_Request *req, int met)
{
    return met ? fesf_world_wait_busy(req) : fesf_world_wait(req);
}

static int meet(const fesf_world *w)
{
    return w->size > 1 && fesf_world_bounded() ? fesf_world_barrier(w) ? -1 : 1 : 0;
}

int fesf_world_bcast_i64(const fesf_world *w, int64_t *v, int root)
{
    MPI_Request req;
    int met = meet(w);
    if (met < 0) return -1;
    if (MPI_Ibcast(v, 1, MPI_INT64_T, root, fesf_world_comm(w), &req) != MPI_SUCCESS)
        return fesf_error("MPI_Ibcast failed");
    return finish(&req, met);
}

int fesf_world_max_i64(const fesf_world *w, int64_t *v)
{
    MPI_Request req;
    int64_t mine = *v;
    if (w->size == 1) return 0;
    int met = meet(w);
    if (met < 0) return -1;
    if (MPI_Iallreduce(&mine, v, 1, MPI_INT64_T, MPI_MAX, fesf_world_comm(w), &req) != MPI_SUCCESS)
        return fesf_error("MPI_Iallreduce failed");
    return finish(&req, met);
}

/* Wait in a sleeping barrier, then move the data in a blocking MPI_Bcast at
 * full speed (see src/fed/agg.c for why not a polled MPI_Ibcast); under a
 * timeout, a non-blocking one polled without sleeping. */
int fesf_world_bcast(const fesf_world *w, void *buf, size_t bytes, int root)
{
    char *p = buf;
    if (w->size > 1 && fesf_world_barrier(w)) return -1;
    while (bytes > 0) { /* counts are int: send in pieces of at most 1 GiB */
        int n = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        MPI_Request req;
        if (fesf_world_bounded()) {
            if (MPI_Ibcast(p, n, MPI_BYTE, root, fesf_world_comm(w), &req) != MPI_SUCCESS)
                return fesf_error("MPI_Ibcast failed");
            if (fesf_world_wait_busy(&req)) return -1;
        } else if (MPI_Bcast(p, n, MPI_BYTE, root, fesf_world_comm(w)) != MPI_SUCCESS) {
            return fesf_error("MPI_Bcast failed");
        }
        p += n;
        bytes -= (size_t)n;
    }
    return 0;
}

/* The ranks whose arrival (reqs[r - 1], r = 1..size-1) did not come, as "rank 3" / "ranks 3, 5". */
static void missing_ranks(int size, MPI_Request *reqs, char *buf, size_t len)
{
    int n = 0;
    size_t at = 0;
    char list[256] = "";
    for (int r = 1; r < size; r++) {
        int flag = 0;
        if (MPI_Test(&reqs[r - 1], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) continue;
        if (++n <= 16 && at < sizeof list) at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", n > 1 ? ", " : "", r);
    }
    snprintf(buf, len, "%s %s%s", n > 1 ? "ranks" : "rank", list, n > 16 ? ", ..." : "");
}

/* The barrier under a timeout: every site sends its arrival to the coordinator, which
 * knows who is missing when the time is up, and lets them all go on when none is. */
static int gathered_barrier(const fesf_world *w)
{
    MPI_Comm c = w->mpi->meet;
    char tok = 1, go = 0;
    double until = deadline(w->rank);
    if (w->rank) {
        MPI_Request r[2];
        if (MPI_Isend(&tok, 1, MPI_CHAR, 0, MEET_TAG, c, &r[0]) != MPI_SUCCESS ||
            MPI_Irecv(&go, 1, MPI_CHAR, 0, MEET_TAG, c, &r[1]) != MPI_SUCCESS)
            return fesf_error("MPI_Isend failed");
        int rc = wait_all(2, r, until, 0);
        return rc > 0 ? fesf_error("timeout: the coordinator (rank 0) did not let the sites go on within %g s "
                                   "(run.timeout + 5 s)%s: it stalled, or another rank did not arrive",
                                   bound.timeout + SITE_GRACE, where())
                      : rc;
    }
    int n = w->size - 1, rc = 0;
    MPI_Request *r = malloc(sizeof *r * (size_t)n);
    char *toks = malloc((size_t)n);
    if (!r || !toks) return free(r), free(toks), fesf_error("out of memory");
    for (int i = 0; i < n && !rc; i++)
        if (MPI_Irecv(&toks[i], 1, MPI_CHAR, i + 1, MEET_TAG, c, &r[i]) != MPI_SUCCESS) rc = fesf_error("MPI_Irecv failed");
    if (!rc) rc = wait_all(n, r, until, 0);
    if (rc > 0) { /* a rank that waits on a transfer with a stalled one does not arrive either, but answers */
        char who[300], silent[300];
        missing_ranks(w->size, r, who, sizeof who);
        if (roll_call(silent, sizeof silent) == 0)
            rc = fesf_error("timeout: %s did not arrive within %g s (run.timeout)%s and %s not answer", silent,
                            bound.timeout, where(), strchr(silent, ',') ? "do" : "does");
        else
            rc = fesf_error("timeout: %s did not arrive within %g s (run.timeout)%s", who, bound.timeout, where());
    }
    for (int i = 0; i < n && !rc; i++)
        if (MPI_Isend(&go, 1, MPI_CHAR, i + 1, MEET_TAG, c, &r[i]) != MPI_SUCCESS) rc = fesf_error("MPI_Isend failed");
    if (!rc && wait_all(n, r, until, 0)) rc = fesf_error("timeout: the coordinator could not reach every site%s", where());
    free(r), free(toks);
    return rc;
}

int fesf_world_barrier(const fesf_world *w)
{
    if (w->size > 1 && fesf_world_bounded()) return gathered_barrier(w);
    MPI_Request req;
    if (MPI_Ibarrier(fesf_world_comm(w), &req) != MPI_SUCCESS) return fesf_error("MPI_Ibarrier failed");
    return fesf_world_wait(&req);
}

int fesf_world_ranks_per_site(const fesf_world *w) { return w->mpi ? w->mpi->per_site : 1; }

int fesf_world_set_ranks_per_site(fesf_world *w, int k)
{
    if (k == fesf_world_ranks_per_site(w)) return 0;
    if (w->size == 1 || k < 1 || (w->size - 1) % k) {
        fesf_error("data.ranks_per_site = %d needs 1 + a multiple of %d ranks (a coordinator and %d ranks a site), "
                   "not %d", k, k, k, w->size);
        return fesf_world_fail_together(w, 0, 1); /* every rank sees the same numbers */
    }
    int color = w->rank == 0 ? MPI_UNDEFINED : (w->rank - 1) / k;
    if (MPI_Comm_split(w->mpi->comm, color, w->rank, &w->mpi->site) != MPI_SUCCESS)
        return fesf_error("MPI_Comm_split failed");
    if (w->mpi->site != MPI_COMM_NULL) MPI_Comm_set_errhandler(w->mpi->site, MPI_ERRORS_RETURN);
    w->mpi->per_site = k;
    return 0;
}

int fesf_world_workers(const fesf_world *w) { return w->size > 1 ? (w->size - 1) / fesf_world_ranks_per_site(w) : 1; }

int fesf_world_shard_owner(const fesf_world *w, int shard)
{
    return w->size == 1 ? 0 : 1 + (shard - 1) % fesf_world_workers(w) * fesf_world_ranks_per_site(w);
}

int fesf_world_owns_shard(const fesf_world *w, int shard)
{
    return w->size > 1 ? w->rank == fesf_world_shard_owner(w, shard) : 1;
}

int fesf_world_site_member(const fesf_world *w, int shard)
{
    int lead = fesf_world_shard_owner(w, shard);
    if (w->size == 1) return 0;
    return w->rank >= lead && w->rank < lead + fesf_world_ranks_per_site(w) ? w->rank - lead : -1;
}

/* The MPI library's version, first clause only ("Open MPI v4.1.4"), for
 * `fesf version`; callable before MPI_Init. */
void fesf_world_mpi_version(char *buf, size_t n)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(v, &len);
    char *comma = strchr(v, ',');
    if (comma) *comma = '\0';
    snprintf(buf, n, "%s", v);
}
