#!/bin/bash
#
# packaging/build-rpm.sh OUTDIR (make rpm): the RPM packages of the work tree into OUTDIR.
#
# Makes Source0 (cerebro-ds-VERSION.tar.gz) from the files git tracks or would track, and
# runs rpmbuild -bb on packaging/rpm/cerebro-ds.spec in OUTDIR/rpm-build (--with cuda when
# the top-level Makefile finds the toolkit). Build dependencies are not checked (--nodeps):
# on a Debian build host the rpm database knows none of the -dev packages the build uses.
# PKG_VERSION=X builds version X; CUDA=0 builds without the CUDA package. Prints the paths
# of the .rpm files last.

set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:?usage: build-rpm.sh OUTDIR}")
version=${PKG_VERSION:-$(sed -n '1s/^cerebro-ds (\([^)]*\)).*/\1/p' "$REPO/packaging/debian/changelog")}
[[ $version =~ ^[0-9][0-9A-Za-z.+]*$ ]] || { echo "build-rpm: bad version '$version'" >&2; exit 2; }

top=$out/rpm-build
rm -rf "$top"
mkdir -p "$top"/{SOURCES,BUILD,RPMS,SRPMS,SPECS}
git -C "$REPO" ls-files -z --cached --others --exclude-standard |
    (cd "$REPO" && xargs -0 tar --no-recursion --transform "s,^,cerebro-ds-$version/," \
        -czf "$top/SOURCES/cerebro-ds-$version.tar.gz" --)

with=()
if [[ ${CUDA:-} != 0 && $(make -s --no-print-directory -C "$REPO" print-CUDA_ENABLED 2>/dev/null | tail -n 1) == 1 ]]; then
    with=(--with cuda)
else
    echo "build-rpm: no CUDA toolkit (or CUDA=0): cerebro-train-cuda is not built"
fi
rpmbuild -bb --nodeps "${with[@]}" --define "_topdir $top" --define "pkg_version $version" \
    "$REPO/packaging/rpm/cerebro-ds.spec"
mkdir -p "$out"
rm -f "$out"/*-"$version"-1*.rpm
find "$top/RPMS" -name '*.rpm' -exec mv {} "$out"/ \;
ls -1 "$out"/*-"$version"-1*.rpm
