/* Site-to-coordinator sums and coordinator broadcasts (see fed.h). Large
 * buffers go in pieces of at most 2^28 elements (int counts).
 *
 * Waiting and moving data are separate: every rank first meets in a
 * sleeping barrier (an idle coordinator sleeps there while the sites
 * compute), then the data moves in a blocking MPI_Reduce / MPI_Bcast at full
 * speed. A non-blocking MPI_Ireduce polled with sleeps only progresses while
 * MPI_Test runs, which measured 10x slower than the bare call for 11.2M
 * floats on 2 ranks (46x for 0.1M). Under run.timeout (world.h) the data
 * moves in a non-blocking collective polled without sleeping, so that a
 * rank that stalls mid-transfer cannot hold the others past the deadline. */
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/run_dir.h"
#include "fesf/shard.h"
#include "mpi_world.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE ((size_t)1 << 28)

static int reduce(const fesf_world *w, void *buf, size_t n, MPI_Datatype t, size_t size)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        char *p = (char *)buf + off * size;
        if (off == 0 && fesf_world_barrier(w)) return -1;
        if (fesf_world_bounded()) { /* under run.timeout: polled, without sleeping, with the deadline */
            MPI_Request req;
            int rc = w->rank == 0 ? MPI_Ireduce(MPI_IN_PLACE, p, k, t, MPI_SUM, 0, fesf_world_comm(w), &req)
                                  : MPI_Ireduce(p, NULL, k, t, MPI_SUM, 0, fesf_world_comm(w), &req);
            if (rc != MPI_SUCCESS) return fesf_error("MPI_Ireduce failed");
            if (fesf_world_wait_busy(&req)) return -1;
            continue;
        }
        int rc = w->rank == 0 ? MPI_Reduce(MPI_IN_PLACE, p, k, t, MPI_SUM, 0, fesf_world_comm(w))
                              : MPI_Reduce(p, NULL, k, t, MPI_SUM, 0, fesf_world_comm(w));
        if (rc != MPI_SUCCESS) return fesf_error("MPI_Reduce failed");
    }
    return 0;
}

int fesf_fed_sum_to_coord(const fesf_world *w, float *buf, size_t n)
{
    return w->size > 1 ? reduce(w, buf, n, MPI_FLOAT, sizeof(float)) : 0;
}

int fesf_fed_sum_to_coord_f64(const fesf_world *w, double *buf, size_t n)
{
    return w->size > 1 ? reduce(w, buf, n, MPI_DOUBLE, sizeof(double)) : 0;
}

int fesf_fed_sum_to_coord_u64(const fesf_world *w, uint64_t *buf, size_t n)
{
    return w->size > 1 ? reduce(w, buf, n, MPI_UINT64_T, sizeof(uint64_t)) : 0;
}

int fesf_fed_bcast_u64(const fesf_world *w, uint64_t *buf, size_t n)
{
    return w->size > 1 ? fesf_world_bcast(w, buf, n * sizeof(uint64_t), 0) : 0;
}

int fesf_fed_bcast_f32(const fesf_world *w, float *buf, size_t n)
{
    return w->size > 1 ? fesf_world_bcast(w, buf, n * sizeof(float), 0) : 0;
}

int fesf_fed_share_sum_f64(const fesf_world *w, double *buf, size_t n)
{
    if (fesf_fed_sum_to_coord_f64(w, buf, n)) return -1;
    return w->size > 1 ? fesf_world_bcast(w, buf, n * sizeof(double), 0) : 0;
}

/* ---- the shard set -------------------------------------------------------------
 * Each site rank reads the metadata of the shards it owns (fesf_shard_meta)
 * into one record per shard; the records are OR-ed together (each has one
 * owner, the others give zeros), so every rank sees every shard's metadata,
 * never its data, and the coordinator opens nothing. Every rank then makes
 * the same verdict, and the rank that owns the first bad shard reports it. */
enum { R_STATE, R_SITE, R_SITES, R_CLASSES, R_C, R_H, R_W, R_HASH, R_INTS };
enum { S_OK = 1, S_MISSING, S_BAD };
#define REC_LEN (R_INTS + FESF_SHARD_NAMES_MAX / 8)

/* Shard s's record (this rank owns it); S_BAD leaves its message recorded. */
static int read_record(const char *run_out, int s, int64_t *rec)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_shard *sh = NULL;
    fesf_shard_meta m;
    fesf_run_shard_path(path, run_out, s);
    if (access(path, F_OK)) return (int)(rec[R_STATE] = S_MISSING);
    int rc = fesf_shard_open(&sh, path) || fesf_shard_meta_read(sh, &m);
    fesf_shard_close(sh);
    if (!rc && m.site_id != s)
        rc = fesf_error("'%s': attribute 'site_id' is %lld, expected %d (the number in its name)", path,
                        (long long)m.site_id, s);
    if (rc) {
        fesf_error("site %d: %s", s, fesf_errmsg());
        return (int)(rec[R_STATE] = S_BAD);
    }
    int64_t v[R_INTS] = {S_OK, m.site_id, m.n_sites, m.n_classes, m.c, m.h, m.w, (int64_t)m.names_hash};
    memcpy(rec, v, sizeof v);
    memcpy(rec + R_INTS, m.names, FESF_SHARD_NAMES_MAX);
    return S_OK;
}

static const char *names_of(const int64_t *rec) { return (const char *)(rec + R_INTS); }

/* The verdict on the records of shards 1..n, the same on every rank: 0, or
 * -1 with the message and *reporter, the rank that owns the shard at fault. */
static int verdict(const fesf_world *w, const char *run_out, int n, const int64_t *recs, const int64_t *gone,
                   int *reporter, int *n_total)
{
    char path[FESF_RUN_PATH_MAX], missing[256] = "";
    int first = 0, n_missing = 0, ref = 0;
    for (int s = 1; s <= n; s++) {
        const int64_t *r = recs + (size_t)(s - 1) * REC_LEN;
        if (r[R_STATE] == S_BAD && !first) {
            *reporter = fesf_world_shard_owner(w, s); /* it holds the message */
            return -1;
        }
        if (r[R_STATE] == S_OK && !ref) ref = s;
        if (r[R_STATE] == S_MISSING && !(gone && gone[s - 1] != -1)) { /* a site that left may take its shard */
            size_t len = strlen(missing);
            if (n_missing++ < 6) snprintf(missing + len, sizeof missing - len, "%ssite-%03d.h5", len ? ", " : "", s);
            if (!first) first = s;
        }
    }
    if (first) {
        *reporter = fesf_world_shard_owner(w, first);
        return fesf_error("'%s' has no %s%s but site-%03d.h5 exists: a run holds site-001.h5 .. site-NNN.h5 "
                          "without gaps", run_out, missing, n_missing > 6 ? ", ..." : "", n);
    }
    if (!ref) return fesf_error("'%s': every site's shard is missing", run_out);
    const int64_t *one = recs + (size_t)(ref - 1) * REC_LEN;
    int gone_after = one[R_SITES] > n && one[R_SITES] <= 4096; /* the last sites left with their shards? */
    for (int s = n + 1; gone_after && s <= one[R_SITES]; s++) gone_after = gone && gone[s - 1] != -1;
    *n_total = gone_after ? (int)one[R_SITES] : n;
    for (int s = 1; s <= n; s++) {
        const int64_t *r = recs + (size_t)(s - 1) * REC_LEN;
        if (r[R_STATE] != S_OK) continue;
        *reporter = fesf_world_shard_owner(w, s);
        fesf_run_shard_path(path, run_out, s);
        if (r[R_SITES] != *n_total && s == ref)
            return fesf_error("'%s' holds %d shard%s (site-001.h5 .. site-%03d.h5) but they were prepared for "
                              "%lld sites (n_sites)%s", run_out, n, n > 1 ? "s" : "", n, (long long)r[R_SITES],
                              r[R_SITES] > n ? ": the last shards are missing" : ": shards are left from another run");
        if (r[R_SITES] != one[R_SITES])
            return fesf_error("site %d: '%s' was prepared for %lld sites (n_sites) but site-001.h5 for %lld", s, path,
                              (long long)r[R_SITES], (long long)one[R_SITES]);
        if (r[R_CLASSES] != one[R_CLASSES])
            return fesf_error("site %d: '%s' has %lld classes ([%s]) but site-001.h5 has %lld ([%s])", s, path,
                              (long long)r[R_CLASSES], names_of(r), (long long)one[R_CLASSES], names_of(one));
        if (r[R_HASH] != one[R_HASH])
            return fesf_error("site %d: '%s' has class_names [%s] but site-001.h5 has [%s]: every site must name the "
                              "same classes in the same order", s, path, names_of(r), names_of(one));
        if (r[R_C] != one[R_C] || r[R_H] != one[R_H] || r[R_W] != one[R_W])
            return fesf_error("site %d: '%s': images are %lldx%lldx%lld but site-001.h5 has %lldx%lldx%lld", s, path,
                              (long long)r[R_C], (long long)r[R_H], (long long)r[R_W], (long long)one[R_C],
                              (long long)one[R_H], (long long)one[R_W]);
    }
    return 0;
}

int fesf_fed_count_shards(const fesf_world *w, const char *run_out, int *n)
{
    return fesf_fed_count_shards_except(w, run_out, NULL, n);
}

int fesf_fed_count_shards_except(const fesf_world *w, const char *run_out, const int64_t *gone, int *n)
{
    int64_t mine = 0, most = 0;
    int reporter = 0, bad = 0, rc = -1;
    int64_t *recs = NULL, *all = NULL;
    if (w->rank != 0 || w->size == 1) mine = fesf_run_highest_shard(run_out); /* the site ranks' disks only */
    if (fesf_world_barrier(w)) return -1; /* a bounded wait under run.timeout; then at once */
    if (MPI_Allreduce(&mine, &most, 1, MPI_INT64_T, MPI_MAX, fesf_world_comm(w)) != MPI_SUCCESS)
        return fesf_error("MPI_Allreduce failed");
    *n = (int)most;
    if (most <= 0) {
        fesf_error("no site-001.h5 in '%s' on any site rank (run 'fesf prepare' first)", run_out);
        return fesf_world_fail_together(w, 0, 1);
    }
    if (most > 4096) {
        fesf_error("'%s' holds site-%03lld.h5: fesf runs at most 4096 sites", run_out, (long long)most);
        return fesf_world_fail_together(w, 0, 1);
    }
    size_t len = (size_t)most * REC_LEN;
    recs = calloc(len, sizeof(int64_t)), all = calloc(len, sizeof(int64_t));
    if (!recs || !all) {
        fesf_error("out of memory");
        goto done;
    }
    for (int s = 1; s <= most && !bad; s++)
        if (fesf_world_owns_shard(w, s)) bad = read_record(run_out, s, recs + (size_t)(s - 1) * REC_LEN) == S_BAD;
    if (fesf_world_barrier(w) ||
        MPI_Allreduce(recs, all, (int)len, MPI_INT64_T, MPI_BOR, fesf_world_comm(w)) != MPI_SUCCESS) {
        fesf_error("MPI_Allreduce failed");
        goto done;
    }
    rc = verdict(w, run_out, (int)most, all, gone, &reporter, n);
    if (rc) fesf_world_fail_together(w, reporter, 1);
done:
    free(recs), free(all);
    return rc;
}

/* The benchmark's reference round (see fed.h): Open MPI's blocking
 * (busy-polling) collectives with no barrier, in the same pieces as above. */
int fesf_fed_bare_round(const fesf_world *w, float *buf, size_t n)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        if (MPI_Bcast(buf + off, k, MPI_FLOAT, 0, fesf_world_comm(w)) != MPI_SUCCESS) return fesf_error("MPI_Bcast failed");
    }
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        int rc = w->rank == 0 ? MPI_Reduce(MPI_IN_PLACE, buf + off, k, MPI_FLOAT, MPI_SUM, 0, fesf_world_comm(w))
                              : MPI_Reduce(buf + off, NULL, k, MPI_FLOAT, MPI_SUM, 0, fesf_world_comm(w));
        if (rc != MPI_SUCCESS) return fesf_error("MPI_Reduce failed");
    }
    return 0;
}
