#!/bin/bash
#
# tests/lib/deps.sh [packaging] (make deps): install the Debian packages that the build and
# the tests need; with "packaging", also those that make deb, make rpm and
# make check-packaging need.
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

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps: missing ${#missing[@]} of ${#PACKAGES[@]}: ${missing[*]}"
if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "deps: not root and no password-less sudo; as root, run:" >&2
    echo "apt-get install ${missing[*]}" >&2
    exit 1
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"

for p in "${missing[@]}"; do
    installed "$p" || { echo "deps: $p still not installed" >&2 && exit 1; }
done
echo "deps: installed ${missing[*]}"
