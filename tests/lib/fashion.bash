# shellcheck shell=bash
#
# tests/lib/fashion.bash: load Fashion-MNIST into a cluster of tests/lib/pg.bash.
#
#     load_fashion seg0 fm --limit 1000 --partitions 3
#
# gives table fm (id int, x real[], y int); see tests/lib/load-fashion.py --help for the
# options (--split train|test, --limit N, --partitions K, --replace, --compression lz4).

_CD_FASHION_PY=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/load-fashion.py

# load_fashion NAME TABLE [load-fashion.py options...]
load_fashion() {
    local name=${1:-} table=${2:-} ci
    [[ -n $table ]] || { echo "usage: load_fashion NAME TABLE [options]" >&2 && return 1; }
    shift 2
    ci=$(pg_conninfo "$name") || return 1
    "$_CD_FASHION_PY" --conninfo "$ci" --table "$table" "$@"
}
