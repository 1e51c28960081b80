# OpenBLAS's kernels (include/fesf/blas.h): where OpenBLAS picks generic kernels on a
# CPU with AVX2 or AVX-512, fesf re-executes itself once with OPENBLAS_CORETYPE set,
# checks the kernels with a GEMM self-check, says so in one log line and names them
# in `fesf version`; never over the user's OPENBLAS_CORETYPE nor with FESF_BLAS_AUTO=0.
# FESF_BLAS_TEST_CORENAME=Prescott pretends OpenBLAS chose Prescott, so this runs on
# CPUs OpenBLAS knows too; the expected choice comes from /proc/cpuinfo.
. tests/lib.sh
FESF_BLAS_EXEC_TIMEOUT=${FESF_BLAS_EXEC_TIMEOUT:-60}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { case " ${flags#*:} " in *" $1 "*) return 0 ;; esac; return 1; }
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then want=SkylakeX; cpu=AVX-512
elif has avx2 && has fma; then want=Haswell; cpu="AVX2 and FMA"
else want=; fi
# version ENV...: `fesf version` under these variables (and a timeout: a re-exec loop would not end)
version() { env "$@" timeout "$FESF_BLAS_EXEC_TIMEOUT" "$FESF" version >"$TMP/v" 2>"$TMP/verr"; }
kernels() { sed -n 's/^  openblas kernels: //p' "$TMP/v"; }
# execs VAR=VALUE... CMD...: how many programs the command executes (strace), env's own exec
# not counted, into $TMP/n ("<... execve resumed>) = 0" when OpenBLAS's threads split the line)
have_strace=0; command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null && have_strace=1
execs() { strace -f -qq -e trace=execve -o "$TMP/st" env "$@" >/dev/null 2>&1; echo $(($(grep -cE 'execve.*= 0$' "$TMP/st") - 1)) >"$TMP/n"; }

version && kernels | grep -Eq '^[A-Za-z0-9()]+ \(' && ok "fesf version names the kernels: $(kernels)" \
    || { nok "fesf version names the kernels"; sed 's/^/#   /' "$TMP/v" "$TMP/verr"; }

# the convolutions' direct kernels (conv_direct.c): the CPU's widest vectors, capped by FESF_MAX_ISA
conv() { sed -n 's/^  conv kernels: //p' "$TMP/v"; }
if has avx512f; then cw="direct AVX-512"; elif has avx2 && has fma; then cw="direct AVX2"; else cw="Winograd"; fi
version && conv | grep -q "^$cw" && ok "fesf version names the conv kernels: $(conv)" || nok "conv kernels: '$(conv)', want $cw"
if [ "$cw" != Winograd ]; then
    version FESF_MAX_ISA=avx2 && conv | grep -q "^direct AVX2 (FESF_MAX_ISA)" && version FESF_MAX_ISA=none \
        && conv | grep -q "(FESF_MAX_ISA=none)" && version FESF_MAX_ISA=sse3 && conv | grep -q "not understood" \
        && ok "FESF_MAX_ISA=avx2 and none cap them, an unknown value is said to be ignored" \
        || nok "FESF_MAX_ISA: '$(conv)'"
fi

if [ -n "${OPENBLAS_CORETYPE+set}" ]; then
    # DESIGN section 7: the environment's OPENBLAS_CORETYPE is left alone
    kernels | grep -q "(OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE set by the user)" && ok "OPENBLAS_CORETYPE of the environment is kept: $(kernels)" \
        || nok "OPENBLAS_CORETYPE of the environment: $(kernels)"
    # an AVX2 (or older) core set on an AVX-512 CPU is kept, and version says what it leaves unused
    case "$want:$(kernels | cut -d' ' -f1)" in
    SkylakeX:SkylakeX | SkylakeX:Cooperlake | SkylakeX:SapphireRapids | :*) ;;
    SkylakeX:*) kernels | grep -q "\[this CPU has AVX-512: SkylakeX kernels would use it\]" \
        && ok "a core without AVX-512 on an AVX-512 CPU: kept, and said: $(kernels)" || nok "no hint: $(kernels)" ;;
    esac
    skip "automatic choice" "OPENBLAS_CORETYPE is set in this environment"
    echo "1..$_n"
    exit 0
fi
if [ -z "$want" ]; then
    skip "automatic choice" "this CPU has neither AVX-512 nor AVX2 + FMA"
    echo "1..$_n"
    exit 0
fi

P=FESF_BLAS_TEST_CORENAME=Prescott
version $P && kernels | grep -q "^$want (auto: OpenBLAS chose Prescott on a CPU with $cpu; GEMM self-check passed)" \
    && grep -q "^  openblas: OpenBLAS .* $want " "$TMP/v" && [ ! -s "$TMP/verr" ] \
    && ok "Prescott on a CPU with $cpu: fesf version reports $want, and OpenBLAS runs it: $(kernels)" \
    || { nok "automatic choice (want $want)"; sed 's/^/#   /' "$TMP/v" "$TMP/verr"; }
version $P OPENBLAS_CORETYPE=Prescott && kernels | grep -q "^Prescott (OPENBLAS_CORETYPE=Prescott set by the user) \[this CPU has $cpu: $want kernels would use it\]" \
    && ok "OPENBLAS_CORETYPE set by the user is not overridden, only named: $(kernels)" || nok "user's OPENBLAS_CORETYPE: $(kernels)"
version FESF_BLAS_AUTO=0 && own=$(kernels | cut -d' ' -f1) # OpenBLAS's own choice on this CPU
version $P FESF_BLAS_AUTO=0 && kernels | grep -q "^$own (detected by OpenBLAS; FESF_BLAS_AUTO=0 keeps it on a CPU with $cpu)" \
    && ok "FESF_BLAS_AUTO=0 overrides nothing: $(kernels)" || nok "FESF_BLAS_AUTO=0: $(kernels)"
version FESF_BLAS_TEST_CORENAME=Haswell && kernels | grep -q '(detected by OpenBLAS)' \
    && ok "an AVX2 core OpenBLAS chose is kept: $(kernels)" || nok "Haswell chosen: $(kernels)"
version $P FESF_BLAS_TEST_SELFCHECK=fail && kernels | grep -q "(detected by OpenBLAS; $want rejected: GEMM self-check failed on purpose" \
    && ok "a failed self-check goes back to OpenBLAS's own kernels: $(kernels)" \
    || { nok "self-check failure"; sed 's/^/#   /' "$TMP/v" "$TMP/verr"; }
# markers a previous process might have left in the environment do not fool it
version $P FESF_BLAS_FAILED="SkylakeX: stale" && kernels | grep -q "^$want (auto: " \
    && ok "a stale FESF_BLAS_FAILED in the environment is ignored" || nok "stale FESF_BLAS_FAILED: $(kernels)"

if [ $have_strace -eq 1 ]; then
    execs $P "$FESF" version; [ "$(cat "$TMP/n")" -eq 2 ] && ok "auto: exactly one re-exec" || nok "auto: $(cat "$TMP/n") execs"
    execs $P FESF_BLAS_TEST_SELFCHECK=fail "$FESF" version
    [ "$(cat "$TMP/n")" -eq 3 ] && ok "failed self-check: exactly one more re-exec, no loop" || nok "fallback: $(cat "$TMP/n") execs"
    execs $P OPENBLAS_CORETYPE=Prescott "$FESF" version; [ "$(cat "$TMP/n")" -eq 1 ] && ok "user's OPENBLAS_CORETYPE: no re-exec" || nok "user: $(cat "$TMP/n") execs"
    execs $P FESF_BLAS_AUTO=0 "$FESF" version; [ "$(cat "$TMP/n")" -eq 1 ] && ok "FESF_BLAS_AUTO=0: no re-exec" || nok "auto=0: $(cat "$TMP/n") execs"
    execs $P "$FESF" help; [ "$(cat "$TMP/n")" -eq 1 ] && ok "fesf help: no re-exec" || nok "help: $(cat "$TMP/n") execs"
else
    skip "exec counts" "no strace"
fi

# under mpirun every rank re-executes before MPI_Init; the line appears once, from rank 0
mpirun --oversubscribe -np 3 -x $P "$FESF" version >"$TMP/o" 2>&1
n=$(grep -c "^  openblas kernels: $want (auto: OpenBLAS chose Prescott" "$TMP/o")
[ "$n" -eq 3 ] && ok "fesf version, mpirun -np 3: every rank runs $want" || { nok "version under mpirun ($n of 3)"; sed 's/^/#   /' "$TMP/o" | head; }
RUN=$TMP/run
mpirun --oversubscribe -np 3 -x $P "$FESF" prepare --set data.size=28 --set data.count=160 --set data.sites=2 \
    --set run.out="$RUN" >"$TMP/o" 2>&1 && ok "prepare, mpirun -np 3 (every rank re-executes before MPI_Init)" \
    || { nok "prepare under mpirun"; sed 's/^/#   /' "$TMP/o" | tail -20; }
mpirun --oversubscribe -np 3 -x $P "$FESF" train --set run.out="$RUN" --set train.input=plain --set train.rounds=2 \
    --set train.batch=16 --set train.eval_every=2 >"$TMP/o" 2>&1
rc=$?
n=$(grep -c "blas: OpenBLAS chose Prescott kernels on a CPU with $cpu; using $want (OPENBLAS_CORETYPE), GEMM self-check passed" "$TMP/o")
m=$(grep -c 'blas: ' "$TMP/o")
[ $rc -eq 0 ] && [ "$n" -eq 1 ] && [ "$m" -eq 1 ] && grep -q "^\[coord\] blas: " "$TMP/o" \
    && ok "train, mpirun -np 3: the blas line once, from the coordinator: $(grep 'blas: ' "$TMP/o")" \
    || { nok "train under mpirun (exit $rc, $n lines)"; grep -E 'blas|error' "$TMP/o" | sed 's/^/#   /' | head; }
O="--set run.out=$RUN --set train.input=plain --set train.rounds=1 --set train.batch=16 --set train.eval_every=1"
env $P "$FESF" train $O >"$TMP/o" 2>&1 && [ "$(grep -c 'blas: ' "$TMP/o")" -eq 1 ] \
    && env $P "$FESF" train -q $O >"$TMP/o" 2>&1 && ! grep -q 'blas: ' "$TMP/o" \
    && ok "one process: the blas line once (info: none with -q)" \
    || { nok "one process"; grep -E 'blas|error' "$TMP/o" | sed 's/^/#   /' | head; }
mpirun --oversubscribe -np 3 -x $P -x FESF_BLAS_TEST_SELFCHECK=fail "$FESF" prepare --set data.size=28 \
    --set data.count=160 --set data.sites=2 --set run.out="$TMP/run2" >"$TMP/o" 2>&1
rc=$?
n=$(grep -c "warning: blas: OpenBLAS chose Prescott kernels on a CPU with $cpu; $want rejected" "$TMP/o")
[ $rc -eq 0 ] && [ "$n" -eq 3 ] && ok "failed self-check under mpirun -np 3: each rank re-executes twice, warns, runs" \
    || { nok "self-check failure under mpirun (exit $rc, $n warnings)"; sed 's/^/#   /' "$TMP/o" | head; }
echo "1..$_n"
