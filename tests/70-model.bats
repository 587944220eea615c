#!/usr/bin/env bats
# Model files: for every architecture shipped in conf/models, the trainer's shape inference
# (build/tools/modelinfo) and the PyTorch model built from the same file
# (tests/lib/torch_model.py, the trainer's numerical reference) have the same parameters.

load helpers

MODELINFO=${CD_BIN_DIR:-$REPO/build/bin}/../tools/modelinfo

@test "every shipped model has the same parameter count in the trainer and in PyTorch" {
    for f in "$REPO"/conf/models/*.ini; do
        c=$("$MODELINFO" "$f" | tail -1 | cut -d' ' -f1)
        t=$("$PYTHON" "$REPO/tests/lib/torch_model.py" "$f")
        echo "$f: trainer $c, torch $t"
        [[ $c =~ ^params=[1-9][0-9]*$ ]] # a count: two failures would both print nothing
        [ "$c" = "$t" ]
    done
}

@test "a bad model file is an error naming the file and line" {
    printf '[model]\ninput = 784\nlayers = dense:10, softmaxx\nclasses = 10\n' >"$BATS_TEST_TMPDIR/bad.ini"
    run "$MODELINFO" "$BATS_TEST_TMPDIR/bad.ini"
    [ "$status" -eq 1 ]
    [[ $output == *"bad.ini:3: unknown layer \"softmaxx\""* ]]
}

@test "a zero residual stride, or a layer of more values per row than an int holds, is an error" {
    f=$BATS_TEST_TMPDIR/m.ini
    tail='\nloss = softmax_xent\nclasses = 2\nfeature = x\nlabel = y\n'
    printf "[model]\ninput = 1,8,8\nlayers = residual:4:0, gavgpool, dense:2$tail" >"$f"
    run "$MODELINFO" "$f" # was a division by zero (SIGFPE)
    [ "$status" -eq 1 ]
    [[ $output == *'m.ini:3: invalid value "residual:4:0" for layer'* ]]
    printf "[model]\ninput = 4096,4096,4096\nlayers = flatten, dense:2$tail" >"$f"
    run "$MODELINFO" "$f" # was a flatten of 0 values (the size cut to an int)
    [ "$status" -eq 1 ]
    [[ $output == *"m.ini: the input has more than 2147483647 values per row"* ]]
    printf "[model]\ninput = 1,32768,32768\nlayers = conv2d:1024:1, flatten, dense:2$tail" >"$f"
    run "$MODELINFO" "$f"
    [ "$status" -eq 1 ]
    [[ $output == *"m.ini: layer 1 gives more than 2147483647 values per row"* && $output == *HINT:* ]]
}
