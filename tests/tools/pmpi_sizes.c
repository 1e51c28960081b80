/* LD_PRELOAD probe (PMPI profiling interface): how large is the largest
 * message any rank other than world rank 0 sends towards world rank 0?
 *
 * The MPI calls that can carry data from this rank to world rank 0 and that
 * fesf uses, or might, are intercepted (point-to-point sends whose
 * destination is world rank 0; reductions and gathers rooted at it;
 * allreduces and allgathers over a communicator that contains it; broadcasts
 * rooted at this rank when that is not rank 0, as fesf's broadcasts must all
 * flow from rank 0). Others (v-collectives, all-to-all, scatter, persistent
 * sends, RMA) are not: tests/e2e/privacy_mpi.sh fails if fesf's sources call
 * an MPI function that moves data and is not defined here. On a rank
 * other than 0 the size of each such message (count * type size, in bytes)
 * goes into a per-process maximum, a call count and a total. MPI_Init and
 * MPI_Finalize are intercepted too: at MPI_Finalize every rank appends one line
 *   rank R cmd S max_bytes_to_coord M calls C total_bytes T cpu_s X wall_s Y sizes_dropped D sizes B:N,B:N,...
 * to the file named by $FESF_PMPI_LOG (O_APPEND, one write per rank, so
 * ranks do not clobber each other, and several jobs can share one log): S is
 * the program's first argument (fesf's command: run, hide, train, ...; "-"
 * if none), so that each line says which command sent what; X is the
 * process CPU time (user + system, all threads) and Y the wall time, both
 * from the end of MPI_Init to MPI_Finalize; `sizes` lists each distinct message size B (bytes) with its
 * count N ("-" if none), for the first 64 distinct sizes; D counts messages
 * of further sizes (covered by M only). Without FESF_PMPI_LOG nothing is
 * written. Counters are per process and not locked: fesf calls MPI from one
 * thread.
 *
 * Build: gcc -shared -fPIC $(pkg-config --cflags ompi-c) tests/tools/pmpi_sizes.c \
 *            -o build/tools/libpmpi_sizes.so $(pkg-config --libs ompi-c)
 * Use:   mpirun -np 5 -x LD_PRELOAD=$PWD/build/tools/libpmpi_sizes.so \
 *            -x FESF_PMPI_LOG=/tmp/sizes.log bin/fesf train ...
 * (and -x FESF_PMPI_DUMP=DIR for the messages' bytes: see dump()). */
#define _GNU_SOURCE
#include <mpi.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int world_rank = -1;          /* -1 until MPI_Init returns */
static long long max_bytes, total_bytes, calls;
#define MAX_SIZES 64
static struct { long long bytes, n; } sizes[MAX_SIZES]; /* distinct message sizes */
static int n_sizes;
static long long sizes_dropped; /* messages of sizes beyond the first MAX_SIZES distinct */
static double cpu0, wall0;
static char cmd[32] = "-"; /* argv[1] of this process, for the log line */

static double cpu_now(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* argv[1] from /proc/self/cmdline (NUL-separated), whatever MPI_Init was
 * given; characters that would break the log's word format become '_'. */
static void read_cmd(void)
{
    char buf[4096];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    size_t a0 = strlen(buf); /* argv[0] ends here */
    if ((ssize_t)a0 + 1 >= n || !buf[a0 + 1]) return;
    snprintf(cmd, sizeof cmd, "%s", buf + a0 + 1);
    for (char *c = cmd; *c; c++)
        if (*c <= ' ' || *c == ':' || *c == ',') *c = '_';
}

static void started(void)
{
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    read_cmd();
    cpu0 = cpu_now();
    wall0 = wall_now();
}

/* The group that `dest`/`root` ranks of `comm` refer to: the remote group of
 * an intercommunicator, else the communicator's own group. */
static MPI_Group peer_group(MPI_Comm comm)
{
    int inter = 0;
    MPI_Group g = MPI_GROUP_NULL;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter) PMPI_Comm_remote_group(comm, &g);
    else PMPI_Comm_group(comm, &g);
    return g;
}

/* Is rank `r` of comm's peer group world rank 0? */
static int is_coord(MPI_Comm comm, int r)
{
    if (r < 0) return 0; /* MPI_PROC_NULL, MPI_ROOT, MPI_ANY_SOURCE */
    MPI_Group world, g = peer_group(comm);
    int w = MPI_UNDEFINED;
    PMPI_Comm_group(MPI_COMM_WORLD, &world);
    PMPI_Group_translate_ranks(g, 1, &r, world, &w);
    PMPI_Group_free(&g);
    PMPI_Group_free(&world);
    return w == 0;
}

/* Does comm's peer group contain world rank 0? */
static int has_coord(MPI_Comm comm)
{
    MPI_Group world, g = peer_group(comm);
    int zero = 0, r = MPI_UNDEFINED;
    PMPI_Comm_group(MPI_COMM_WORLD, &world);
    PMPI_Group_translate_ranks(world, 1, &zero, g, &r);
    PMPI_Group_free(&g);
    PMPI_Group_free(&world);
    return r != MPI_UNDEFINED;
}

/* With $FESF_PMPI_DUMP (a folder): the bytes of each message of at least
 * 16 bytes, one file each, CMD-rR-NNNNN-TYPE.bin (TYPE: the MPI type's
 * name), the first 4096 messages of this rank: what the coordinator
 * receives, for tests of its content (tests/e2e/secagg.sh). Contiguous
 * predefined types only, as fesf sends. */
static void dump(const void *buf, long long bytes, MPI_Datatype type)
{
    static int seq;
    const char *dir = getenv("FESF_PMPI_DUMP");
    if (!dir || !*dir || bytes < 16 || seq >= 4096 || !buf) return;
    char name[MPI_MAX_OBJECT_NAME] = "unnamed", path[4096];
    int len = 0;
    PMPI_Type_get_name(type, name, &len);
    snprintf(path, sizeof path, "%s/%s-r%d-%05d-%s.bin", dir, cmd, world_rank, seq++, len ? name : "unnamed");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return perror("pmpi_sizes: FESF_PMPI_DUMP");
    if (write(fd, buf, (size_t)bytes) != bytes) perror("pmpi_sizes: write");
    close(fd);
}

/* Record one message of `count` elements of `type` if this rank is not 0. */
static void note(const void *buf, int count, MPI_Datatype type)
{
    if (world_rank <= 0 || count < 0) return;
    int size = 0;
    PMPI_Type_size(type, &size);
    long long bytes = (long long)count * size;
    dump(buf, bytes, type);
    if (bytes > max_bytes) max_bytes = bytes;
    total_bytes += bytes;
    calls++;
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i].bytes == bytes) {
            sizes[i].n++;
            return;
        }
    if (n_sizes < MAX_SIZES) sizes[n_sizes].bytes = bytes, sizes[n_sizes++].n = 1;
    else sizes_dropped++;
}

/* Point-to-point: to world rank 0 only. */
#define TO(dest, comm) (world_rank > 0 && is_coord(comm, dest))
/* Rooted collective (reduce, gather): rooted at world rank 0. */
#define ROOTED(root, comm) (world_rank > 0 && is_coord(comm, root))
/* All-to-all-ish collective: every member receives from every other. */
#define ALL(comm) (world_rank > 0 && has_coord(comm))

int MPI_Init(int *argc, char ***argv)
{
    int rc = PMPI_Init(argc, argv);
    if (rc == MPI_SUCCESS) started();
    return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc == MPI_SUCCESS) started();
    return rc;
}

int MPI_Finalize(void)
{
    const char *path = getenv("FESF_PMPI_LOG");
    if (path && *path && world_rank >= 0) {
        char line[4096];
        int n = snprintf(line, sizeof line,
                         "rank %d cmd %s max_bytes_to_coord %lld calls %lld total_bytes %lld cpu_s %.3f wall_s %.3f "
                         "sizes_dropped %lld sizes ",
                         world_rank, cmd, max_bytes, calls, total_bytes, cpu_now() - cpu0, wall_now() - wall0,
                         sizes_dropped);
        for (int i = 0; i < n_sizes; i++) /* at most 64 * 42 characters: fits */
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%lld:%lld", i ? "," : "", sizes[i].bytes, sizes[i].n);
        n += snprintf(line + n, sizeof line - (size_t)n, "%s\n", n_sizes ? "" : "-");
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            if (write(fd, line, (size_t)n) != n) perror("pmpi_sizes: write");
            close(fd);
        } else {
            perror("pmpi_sizes: open FESF_PMPI_LOG");
        }
    }
    return PMPI_Finalize();
}

/* ---- point to point ------------------------------------------------------- */

int MPI_Send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Send(buf, count, type, dest, tag, comm);
}

int MPI_Ssend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Ssend(buf, count, type, dest, tag, comm);
}

int MPI_Bsend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Bsend(buf, count, type, dest, tag, comm);
}

int MPI_Rsend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Rsend(buf, count, type, dest, tag, comm);
}

int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request *req)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Isend(buf, count, type, dest, tag, comm, req);
}

int MPI_Issend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request *req)
{
    if (TO(dest, comm)) note(buf, count, type);
    return PMPI_Issend(buf, count, type, dest, tag, comm, req);
}

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
    if (TO(dest, comm)) note(sendbuf, sendcount, sendtype);
    return PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                         comm, status);
}

/* ---- collectives ------------------------------------------------------------ */

int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm)
{
    if (ROOTED(root, comm)) note(sendbuf, count, type);
    return PMPI_Reduce(sendbuf, recvbuf, count, type, op, root, comm);
}

int MPI_Ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm,
                MPI_Request *req)
{
    if (ROOTED(root, comm)) note(sendbuf, count, type);
    return PMPI_Ireduce(sendbuf, recvbuf, count, type, op, root, comm, req);
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    if (ALL(comm)) note(sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, count, type);
    return PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm);
}

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                   MPI_Request *req)
{
    if (ALL(comm)) note(sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, count, type);
    return PMPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, req);
}

int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
               MPI_Datatype recvtype, int root, MPI_Comm comm)
{
    if (ROOTED(root, comm)) note(sendbuf, sendcount, sendtype);
    return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Igather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *req)
{
    if (ROOTED(root, comm)) note(sendbuf, sendcount, sendtype);
    return PMPI_Igather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm, req);
}

int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm)
{
    if (ALL(comm)) /* in place: this rank's part is inside recvbuf, not dumped */
        note(sendbuf == MPI_IN_PLACE ? NULL : sendbuf, sendbuf == MPI_IN_PLACE ? recvcount : sendcount,
             sendbuf == MPI_IN_PLACE ? recvtype : sendtype);
    return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                   MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *req)
{
    if (ALL(comm)) /* in place: this rank's part is inside recvbuf, not dumped */
        note(sendbuf == MPI_IN_PLACE ? NULL : sendbuf, sendbuf == MPI_IN_PLACE ? recvcount : sendcount,
             sendbuf == MPI_IN_PLACE ? recvtype : sendtype);
    return PMPI_Iallgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm, req);
}

/* Broadcasts flow from their root: they reach rank 0 from this rank only when
 * this rank (not 0) is the root. */
static int my_bcast(int root, MPI_Comm comm)
{
    if (world_rank <= 0 || !has_coord(comm)) return 0;
    int inter = 0, me = -1;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter) return root == MPI_ROOT;
    PMPI_Comm_rank(comm, &me);
    return root == me;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
    if (my_bcast(root, comm)) note(buf, count, type);
    return PMPI_Bcast(buf, count, type, root, comm);
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request *req)
{
    if (my_bcast(root, comm)) note(buf, count, type);
    return PMPI_Ibcast(buf, count, type, root, comm, req);
}
