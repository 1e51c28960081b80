# Command line and configuration: dispatch, usage errors, help, config checks.
. tests/lib.sh
"$FESF" >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && grep -q '^usage: fesf COMMAND' "$TMP/err" && ok "no command: usage on stderr, exit 2" || nok "no command (exit $rc)"
"$FESF" frobnicate >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" "$TMP/err" && ok "unknown command: exit 2" || nok "unknown command (exit $rc)"
"$FESF" prepare --bogus >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--bogus'" "$TMP/err" && grep -q '^usage: fesf prepare' "$TMP/err" \
    && ok "unknown option: usage on stderr, exit 2" || nok "unknown option (exit $rc)"
check "fesf help lists the commands" sh -c "'$FESF' help | grep -q '^  prepare'"
check "fesf help prepare" sh -c "'$FESF' help prepare | grep -q 'usage: fesf prepare'"
check "fesf --help" sh -c "'$FESF' --help | grep -q 'commands:'"
check "fesf version" sh -c "'$FESF' version | grep -q '^fesf [0-9]'"
"$FESF" help nothing >/dev/null 2>&1; [ $? -eq 2 ] && ok "help of an unknown command: exit 2" || nok "help unknown"

# every key of 'fesf help config' is documented in configs/README.md with its default
"$FESF" help config | grep -E '^[a-z]+\.[a-z_0-9]+ = ' >"$TMP/keys"
missing=""
while read -r key _ def; do
    grep -q "\`$key\`" configs/README.md || missing="$missing $key"
done <"$TMP/keys"
[ -z "$missing" ] && [ -s "$TMP/keys" ] && ok "configs/README.md documents all $(wc -l <"$TMP/keys") keys" \
    || nok "keys missing from configs/README.md:$missing"
# the sample configs load (small phantom so the check is quick)
for f in configs/*.ini; do
    check "sample config $f loads and runs prepare" "$FESF" prepare -q -c "$f" --set data.source=phantom \
        --set data.size=28 --set data.count=200 --set data.public=0.05 --set run.out="$TMP/cfg-$(basename "$f" .ini)"
done
# benchmarks print one machine-readable line (tiny runs: format only, not speed)
check "fesf bench ihm prints one result line" sh -c "'$FESF' bench ihm --size 28 --batch 4 --tenths 1 | grep -Eq '^bench ihm size=28 .*images_per_s=[0-9.]+ .*ratio_fftw=[0-9.]+ keyed_images_per_s=[0-9.]+ ratio_keyed=[0-9.]+\$'"
check "fesf bench train prints one result line" sh -c "'$FESF' bench train --size 28 --batch 4 --width 4 --tenths 1 | grep -Eq '^bench train model=cnn-small .*images_per_s=[0-9.]+'"
check "fesf bench iqem prints one result line" sh -c "'$FESF' bench iqem --size 28 --batch 2 --tenths 1 | grep -Eq '^bench iqem size=28 .*images_per_s=[0-9.]+\$'"
check "fesf bench agg prints one result line" sh -c "mpirun --oversubscribe -np 2 '$FESF' bench agg --params 1000 --rounds 2 | grep -Eq '^bench agg ranks=2 params=1000 .*ratio=[0-9.]+'"

printf '[ihm]\nalpha = 0.5\nalpah = 0.2\n' >"$TMP/typo.ini"
expect_fail "unknown key names file, line and key" "typo.ini' line 3: unknown key 'ihm.alpah'" \
    "$FESF" prepare -q -c "$TMP/typo.ini"
printf '[ihm]\n\nalpha = 1.5\n' >"$TMP/range.ini"
expect_fail "bad value names file, line, key and range" "range.ini' line 3: ihm.alpha = '1.5': expected a number in \[0, 1\]" \
    "$FESF" prepare -q -c "$TMP/range.ini"
printf '[model]\narch = vgg\n' >"$TMP/enum.ini"
expect_fail "bad choice lists the allowed values" "enum.ini' line 2: model.arch = 'vgg': expected one of cnn-small \| resnet18" \
    "$FESF" prepare -q -c "$TMP/enum.ini"
printf '[nosuch]\nx = 1\n' >"$TMP/sec.ini"
expect_fail "unknown section" "sec.ini' line 2: unknown section \[nosuch\]" "$FESF" prepare -q -c "$TMP/sec.ini"
printf '[data]\nthis line has no equals sign\n' >"$TMP/syn.ini"
expect_fail "syntax error names the line" "syn.ini' line 2: syntax error" "$FESF" prepare -q -c "$TMP/syn.ini"
expect_fail "--set of an unknown key" "unknown key 'train.lrr'" "$FESF" prepare -q --set train.lrr=1
expect_fail "--set without a section" "expected section.key=value" "$FESF" prepare -q --set lr=1
expect_fail "missing config file" "cannot open config '.*nope.ini'" "$FESF" prepare -q -c "$TMP/nope.ini"

# --set wins over the file; the effective config is printed and stored
printf '[data]\nsize = 32\ncount = 40\nsites = 2\n' >"$TMP/small.ini"
"$FESF" prepare -c "$TMP/small.ini" --set data.sites=3 --set run.out="$TMP/run" 2>"$TMP/log" >/dev/null
grep -q '^\[coord\]   sites = 3$' "$TMP/log" && ok "effective config printed at start, --set applied" || nok "effective config"
h5dump -a /config "$TMP/run/site-001.h5" | grep -q 'sites = 3' && ok "effective config stored in the shard" || nok "config attribute"
[ -f "$TMP/run/site-003.h5" ] && [ ! -f "$TMP/run/site-004.h5" ] && ok "--set data.sites=3 gives 3 shards" || nok "3 shards"
echo "1..$_n"
