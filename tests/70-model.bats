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
