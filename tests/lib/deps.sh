#!/bin/bash
#
# tests/lib/deps.sh [packaging] (make deps): install the Debian packages that the build and
# the tests need; with "packaging", also those that make deb, make rpm and
# make check-packaging need.
# Then Citus (the distributed PostgreSQL the multi-host tests run on; Debian 12 does not
# package it): built from the source tarball of ../shared/citus (or $CITUS_SRC) with its
# build.sh, which does nothing when Citus is already installed for PostgreSQL 15.
#
# Idempotent: asks dpkg-query first and runs apt-get update + install only for what is
# missing. As root it installs directly, otherwise through password-less sudo; without
# either it prints the apt-get line to run and exits 1.

set -euo pipefail

PACKAGES=(
    build-essential pkg-config clang clang-format     # compilers, clang for libFuzzer
    postgresql postgresql-contrib libpq-dev           # PostgreSQL 15 for the tests, libpq
    libfuse3-dev fuse3 liblz4-dev libinih-dev         # the FUSE file system, TOAST lz4, INI
    libopenblas-dev                                   # the trainer's CPU matrix products
    bats python3-numpy python3-torch                  # tests and their oracles
    postgresql-filedump dataset-fashion-mnist         # page oracle, test data
    gnuplot-nox bc strace xxd time                    # benchmarks, test tools, plots
    openssh-server openssh-client                     # the scheduler's ssh launcher tests
    postgresql-server-dev-15 libzstd-dev libkrb5-dev  # building Citus for the multi-host
    libcurl4-openssl-dev xz-utils patch util-linux    # tests (nsenter, unshare: hosts)
)
if [[ ${1:-} == packaging ]]; then
    PACKAGES+=(
        debhelper dpkg-dev lintian                    # make deb
        rpm rpmlint                                   # make rpm
        mmdebstrap util-linux mount procps            # a clean Debian 12 root for the tests
        systemd systemd-container                     # systemd-analyze, systemd-nspawn --boot
    )
fi

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

# citus_src: the directory of Citus's build.sh and source tarball.
citus_src() {
    local here src
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    for src in "${CITUS_SRC:-}" "$here/../shared/citus" /work/shared/citus; do
        if [[ -n $src && -x $src/build.sh ]]; then
            echo "$src"
            return 0
        fi
    done
    echo "deps: no Citus source (build.sh and citus-*.tar.xz): set CITUS_SRC to its directory" >&2
    return 1
}

# citus: build and install Citus for PostgreSQL 15 (root or sudo), once.
citus() {
    local src
    src=$(citus_src) || return 1
    "${as_root[@]}" "$src/build.sh" "$(mktemp -d)"
}

citus_installed() {
    [[ -f /usr/share/postgresql/15/extension/citus.control && -f /usr/lib/postgresql/15/lib/citus.so ]]
}

if ((${#missing[@]} == 0)) && citus_installed; then
    echo "deps: all ${#PACKAGES[@]} packages present, Citus installed"
    exit 0
fi

if ((${#missing[@]} > 0)); then
    echo "deps: missing ${#missing[@]} of ${#PACKAGES[@]}: ${missing[*]}"
else
    echo "deps: Citus is not installed for PostgreSQL 15"
fi
if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "deps: not root and no password-less sudo; as root, run:" >&2
    if ((${#missing[@]} > 0)); then echo "apt-get install ${missing[*]}" >&2; fi
    if ! citus_installed; then echo "$(citus_src)/build.sh" >&2; fi
    exit 1
fi

if ((${#missing[@]} == 0)); then
    citus
    exit
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"

for p in "${missing[@]}"; do
    installed "$p" || { echo "deps: $p still not installed" >&2 && exit 1; }
done
echo "deps: installed ${missing[*]}"
citus
