#!/bin/bash
#
# packaging/build-deb.sh OUTDIR (make deb): the Debian packages of the work tree into OUTDIR.
#
# Copies the sources (the files git tracks or would track: the committed tree plus the work
# tree's changes, nothing ignored) to OUTDIR/deb-build/cerebro-ds-VERSION/ with
# packaging/debian as debian/, and runs dpkg-buildpackage -b there. The CUDA backend package
# is built when the top-level Makefile finds the toolkit, else the nocuda build profile is
# set. PKG_VERSION=X builds version X (a changelog entry is added to the copy): the upgrade
# tests use it. Prints the paths of the .deb files last.

set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:?usage: build-deb.sh OUTDIR}")
changelog=$REPO/packaging/debian/changelog
version=${PKG_VERSION:-$(sed -n '1s/^cerebro-ds (\([^)]*\)).*/\1/p' "$changelog")}
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { echo "build-deb: bad version '$version'" >&2; exit 2; }

build=$out/deb-build
src=$build/cerebro-ds-$version
rm -rf "$build"
mkdir -p "$src"
git -C "$REPO" ls-files -z --cached --others --exclude-standard |
    (cd "$REPO" && xargs -0 tar --no-recursion -cf - --) | tar -xf - -C "$src"
rm -rf "$src/debian"
cp -r "$REPO/packaging/debian" "$src/debian"
if [[ $version != "$(sed -n '1s/^cerebro-ds (\([^)]*\)).*/\1/p' "$changelog")" ]]; then
    {
        printf 'cerebro-ds (%s) unstable; urgency=medium\n\n' "$version"
        printf '  * Built as version %s by packaging/build-deb.sh (PKG_VERSION).\n\n' "$version"
        printf ' -- cerebro-ds maintainers <maintainers@users.noreply.b-seed-8da4407c.example>  %s\n\n' \
            "$(date -R)"
        cat "$changelog"
    } >"$src/debian/changelog"
fi

profiles=()
cuda=$(make -s --no-print-directory -C "$REPO" print-CUDA_ENABLED 2>/dev/null | tail -n 1)
if [[ $cuda != 1 ]]; then
    profiles=(-Pnocuda)
    echo "build-deb: no CUDA toolkit: cerebro-train-cuda is not built (nocuda profile)"
fi

# no -dbgsym packages (nothing here installs them; an archive build may want them)
(cd "$src" && DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -b -us -uc "${profiles[@]}")
mkdir -p "$out"
rm -f "$out"/*_"$version"_*.deb
mv "$build"/*.deb "$out"/
ls -1 "$out"/*_"$version"_*.deb
