#!/usr/bin/env bats
# cerebro-sched simulate: synthetic units scheduled by the same code as `run`, no training.
# One line per policy in the documented format, --policy all with the Proposition 1 line,
# costs from a CSV file, the schedule written as CSV, async at the lower bound in every
# regime with the shard orders packed from the costs known in advance (the same bytes for
# the same seed), and clear errors: usage errors exit 2, a bad cost file exits 1 naming the
# file and line.

load helpers

S() { cerebro-sched simulate "$@"; }

# field NAME LINE: the value of NAME=... in LINE
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

@test "one line per policy: makespan, lower bound and their ratio" {
    run S --models 16 --workers 4 --epochs 3
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ ${lines[0]} =~ ^policy=async\ makespan=[0-9.]+\ lower_bound=[0-9.]+\ ratio=[0-9.]+$ ]]
    # homogeneous, M = 4W: async packs the units exactly
    [ "$(field makespan "${lines[0]}")" = 48 ]
    [ "$(field lower_bound "${lines[0]}")" = 48 ]
    [ "$(field ratio "${lines[0]}")" = 1.0000 ]
    for p in random sync; do
        run S --models 10 --workers 8 --policy "$p" --fast 1 --slow 20 --p 0.8 --seed 4
        [ "$status" -eq 0 ]
        [[ $output == "policy=$p makespan="* ]]
    done
}

@test "--policy all: the three policies and Proposition 1's prediction next to the simulation" {
    run S --models 200 --workers 8 --epochs 2 --policy all --fast 1 --slow 20 --p 0.9 --seed 2
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 4 ]
    [[ ${lines[0]} == policy=async* && ${lines[1]} == policy=random* && ${lines[2]} == policy=sync* ]]
    [[ ${lines[3]} =~ ^proposition1\ predicted=[0-9.]+\ simulated=[0-9.]+$ ]]
    # eq. (1) for p = 0.9, W = 8, l_m / l_s = 20
    [ "$(field predicted "${lines[3]}")" = 4.0762 ]
    async=$(field ratio "${lines[0]}") sim=$(field simulated "${lines[3]}")
    awk -v a="$async" -v s="$sim" 'BEGIN { exit !(a <= 1.05 && s > 3 && s < 5) }'
}

@test "costs from a CSV file, per model or per (model, shard); the schedule as CSV" {
    D=$BATS_TEST_TMPDIR
    printf 'model,seconds\n0,1\n1,1\n2,4\n' >"$D/costs.csv"
    run S --costs "$D/costs.csv" --workers 2 --epochs 1 --policy all --schedule "$D/s.csv"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ] # no proposition1 line: the costs are not two-mode
    [ "$(field lower_bound "${lines[0]}")" = 8 ]
    [ "$(head -n 1 "$D/s.csv")" = policy,model,epoch,shard,worker,start,end ]
    [ "$(grep -c '^async,' "$D/s.csv")" -eq 6 ]
    [ "$(grep -c '^sync,' "$D/s.csv")" -eq 6 ]
    # every unit on the worker of its shard, model 2 twice for 4 seconds
    awk -F, 'NR > 1 && $4 != $5 { exit 1 }' "$D/s.csv"
    [ "$(awk -F, '$1 == "async" && $2 == 2 { t += $7 - $6 } END { print t }' "$D/s.csv")" = 8 ]
    printf '0,0,1\n0,1,3\n0,2,1\n1,0,2\n1,1,2\n1,2,2\n' >"$D/shards.csv"
    run S --costs "$D/shards.csv"
    [ "$status" -eq 0 ]
    [ "$(field lower_bound "$output")" = 60 ]
}

@test "--no-hints: the scheduler is not told the costs; async then does not start the longest model first" {
    D=$BATS_TEST_TMPDIR
    printf 'model,seconds\n0,1\n1,1\n2,1\n3,1\n4,12\n' >"$D/costs.csv"
    run S --costs "$D/costs.csv" --workers 2 --epochs 2 --schedule "$D/hints.csv"
    [ "$status" -eq 0 ]
    run S --costs "$D/costs.csv" --workers 2 --epochs 2 --schedule "$D/none.csv" --no-hints
    [ "$status" -eq 0 ]
    # the first unit of worker 0: model 4 (12 s a unit) with the costs known, model 0 without
    [ "$(awk -F, '$5 == 0 && $6 == 0 { print $2 }' "$D/hints.csv")" = 4 ]
    [ "$(awk -F, '$5 == 0 && $6 == 0 { print $2 }' "$D/none.csv")" = 0 ]
}

@test "M = 2W..8W with a minority of slow models: async at the lower bound, below random" {
    # Draws where async, with the shard orders of model i in row i mod W, was 17-27% above the
    # bound and behind random: slow models sharing a row queued behind one another
    for args in "32 0.9 6" "16 0.7 8" "64 0.9 7"; do
        read -r m p seed <<<"$args"
        run S --models "$m" --workers 8 --epochs 10 --fast 1 --slow 20 --p "$p" --seed "$seed" --policy all
        [ "$status" -eq 0 ]
        echo "M=$m p=$p seed $seed: ${lines[0]} / ${lines[1]}"
        async=$(field ratio "${lines[0]}") random=$(field ratio "${lines[1]}")
        [ "$async" = 1.0000 ]
        awk -v a="$(field makespan "${lines[0]}")" -v r="$(field makespan "${lines[1]}")" \
            'BEGIN { exit !(a < r) }'
    done
}

@test "the shard orders come from the costs known in advance: slow models get rows of their own" {
    D=$BATS_TEST_TMPDIR
    # 8 models on 4 shards, 0 and 4 slow: row i mod 4 puts both in row 0
    printf 'model,seconds\n0,8\n1,1\n2,1\n3,1\n4,8\n5,1\n6,1\n7,1\n' >"$D/costs.csv"
    run S --costs "$D/costs.csv" --workers 4 --epochs 3 --schedule "$D/hints.csv"
    [ "$status" -eq 0 ]
    [ "$(field ratio "$output")" = 1.0000 ]
    run S --costs "$D/costs.csv" --workers 4 --epochs 3 --schedule "$D/none.csv" --no-hints
    [ "$status" -eq 0 ]
    awk -v r="$(field ratio "$output")" 'BEGIN { exit !(r > 1.05) }'
    # a model's shard in epoch e, step k: perm_e[(row + k) mod 4]; the first shard tells the row
    first() { awk -F, -v m="$2" 'NR > 1 && $2 == m { print $4; exit }' "$1"; }
    [ "$(first "$D/hints.csv" 0)" != "$(first "$D/hints.csv" 4)" ]
    [ "$(first "$D/none.csv" 0)" = "$(first "$D/none.csv" 4)" ]
    # every model visits every shard once an epoch, in the same rotation every epoch
    awk -F, 'NR > 1 { n[$2 "," $3 "," $4]++ } END { for (k in n) if (n[k] != 1) exit 1; exit length(n) != 8 * 3 * 4 }' "$D/hints.csv"
}

@test "the same seed gives the same schedule, byte for byte" {
    D=$BATS_TEST_TMPDIR
    for i in 1 2; do
        run S --models 40 --workers 8 --epochs 3 --fast 1 --slow 7.5 --p 0.7 --seed 11 \
            --policy all --schedule "$D/s$i.csv"
        [ "$status" -eq 0 ]
        echo "$output" >"$D/out$i"
    done
    cmp "$D/s1.csv" "$D/s2.csv"
    cmp "$D/out1" "$D/out2"
    # another seed draws other costs and shard orders
    run S --models 40 --workers 8 --epochs 3 --fast 1 --slow 7.5 --p 0.7 --seed 12 \
        --policy async --schedule "$D/s3.csv"
    run ! cmp -s <(grep '^async' "$D/s1.csv") "$D/s3.csv"
}

@test "usage errors exit 2 and say what is wrong" {
    run S --models 0
    [ "$status" -eq 2 ]
    [[ $output == *'invalid value "0" for --models'* ]]
    [[ $output == *"Try 'cerebro-sched simulate --help'"* ]]
    run S --p 1.5
    [ "$status" -eq 2 ]
    [[ $output == *'invalid value "1.5" for --p: expected a number in [0, 1]'* ]]
    run S --slow -3
    [ "$status" -eq 2 ]
    [[ $output == *'for --slow'* ]]
    run S --policy fifo
    [ "$status" -eq 2 ]
    [[ $output == *'unknown policy "fifo"'* ]]
    run S --frobnicate
    [ "$status" -eq 2 ]
    [[ $output == *'unknown option "--frobnicate"'* ]]
    run S --models
    [ "$status" -eq 2 ]
    [[ $output == *'--models needs a value'* ]]
    run S extra
    [ "$status" -eq 2 ]
    [[ $output == *'unexpected argument "extra"'* ]]
    printf '0,1\n1,1\n' >"$BATS_TEST_TMPDIR/two.csv"
    run S --costs "$BATS_TEST_TMPDIR/two.csv" --models 3
    [ "$status" -eq 2 ]
    [[ $output == *'--models 3 does not match the 2 models'* ]]
}

@test "sizes it cannot handle are refused at once: unit costs past 1e9 s, too many units or too much work" {
    run S --fast 1e308 --p 0.5 # printed makespan=inf ratio=-nan, exit 0
    [ "$status" -eq 2 ]
    [[ $output == *'invalid value "1e308" for --fast: expected a number in (0, 1e+09]'* ]]
    run S --slow 0
    [ "$status" -eq 2 ]
    # ran for hours, or allocated 32 GB of costs
    run timeout 20 "$(command -v cerebro-sched)" simulate --models 1000000 --epochs 1000000
    [ "$status" -eq 2 ]
    [[ $output == *'1000000 models x 8 workers x 1000000 epochs are too many to simulate (8e+12 units, at most 1e+08'* ]]
    run timeout 20 "$(command -v cerebro-sched)" simulate --models 1000000 --workers 4096 --epochs 1
    [ "$status" -eq 2 ]
    run timeout 20 "$(command -v cerebro-sched)" simulate --models 8 --workers 4096 --epochs 10
    [ "$status" -eq 2 ]
    [[ $output == *"work 5.5e+10, at most 2e+10"* ]]
    # the same bound on a cost file's models and workers
    "$PYTHON" -c "
for m in range(2000):
    print(','.join([str(m), '1']))" >"$BATS_TEST_TMPDIR/many.csv"
    run timeout 20 "$(command -v cerebro-sched)" simulate --costs "$BATS_TEST_TMPDIR/many.csv" --workers 2000 --epochs 100
    [ "$status" -eq 2 ]
    [[ $output == *'2000 models x 2000 workers x 100 epochs are too many'* ]]
}

@test "a bad or missing cost file exits 1 naming the file and line" {
    f=$BATS_TEST_TMPDIR/bad.csv
    printf 'model,seconds\n0,1\n1,fast\n' >"$f"
    run S --costs "$f"
    [ "$status" -eq 1 ]
    [[ $output == *'error: invalid cost line: seconds is not a number in (0, 1e9]'* ]]
    [[ $output == *"DETAIL: file $f, line 3"* ]]
    printf '0,1\n1,1e300\n' >"$f" # finite, but the sums would not be (inf, nan, exit 0)
    run S --costs "$f"
    [ "$status" -eq 1 ]
    [[ $output == *"DETAIL: file $f, line 2"* ]]
    printf '0,1\n2,1\n' >"$f"
    run S --costs "$f"
    [ "$status" -eq 1 ]
    [[ $output == *'model 1 has no cost'* ]]
    run S --costs "$BATS_TEST_TMPDIR/nosuch.csv"
    [ "$status" -eq 1 ]
    [[ $output == *'could not open cost file'*'No such file or directory'* ]]
    run S --schedule /nonexistent/dir/s.csv
    [ "$status" -eq 1 ]
    [[ $output == *'could not create "/nonexistent/dir/s.csv"'* ]]
}

@test "--help describes the options and the output" {
    run S --help
    [ "$status" -eq 0 ]
    for word in --models --workers --epochs --policy --fast --slow --p --costs --seed --schedule \
        lower_bound proposition1 'Exit status'; do
        [[ $output == *"$word"* ]]
    done
    run cerebro-sched --help
    [[ $output == *simulate* ]]
}
