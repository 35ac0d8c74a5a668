#!/usr/bin/env bash
# bundle.sh - builds here what the GPU session runs on a bare GPU machine (make gpu-bundle).
#
# A GPU machine with nvcc, PyTorch and JAX but without the libconfig/HDF5 development
# packages cannot build aesweep, so it gets this folder instead, built here:
#   $BUNDLE/aesweep         the CUDA build (nvcc contracts a*b+c into FMAs)
#   $BUNDLE/nofma/aesweep   the same with -fmad=false kernels (run.sh's bit-exact checks)
#   $BUNDLE/test_gpu        tests/gpu/test_gpu.c: the kernels against the CPU path
#   $BUNDLE/lib/            every shared library those load except glibc's own, found
#                           through an RPATH of $ORIGIN/lib (and $ORIGIN/../lib)
#   $BUNDLE/COMMIT          the commit the binaries were built from
# The binaries and libraries are stripped: the bundle travels with the working tree,
# which the device tool caps at 64 MiB.  The CUDA runtime is linked statically.
# Then every binary is checked with ldd in an empty environment: each library must
# resolve inside the bundle or be one of glibc's.
#
#   bash tests/gpu/bundle.sh              (BUNDLE=build/gpu-bundle, builds in build/gpu)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=${BUNDLE:-build/gpu-bundle}
WORK=${GPU_BUILD:-build/gpu}
MAX_BYTES=${BUNDLE_MAX_BYTES:-$((48 << 20))}
command -v nvcc >/dev/null || { echo "bundle.sh: nvcc is not on the PATH: the bundle needs the CUDA backend"; exit 1; }
GENCODE="-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"

# RPATH, not RUNPATH (--disable-new-dtags): it also applies to the libraries' own needs,
# so libhdf5's libsz, libcurl, ... come from lib/ too.  \$$ORIGIN: make turns $$ into $.
link=(LDFLAGS='-fopenmp -Wl,--disable-new-dtags -Wl,-rpath,\$$ORIGIN/lib:\$$ORIGIN/../lib')
make -s CUDA=1 BUILD="$WORK" "${link[@]}" "$WORK/aesweep" "$WORK/test_gpu"
make -s CUDA=1 BUILD="$WORK/nofma" "${link[@]}" \
    NVCCFLAGS="-O3 -std=c++17 -Iinclude -Xcompiler -Wall,-Wextra -fmad=false $GENCODE" "$WORK/nofma/aesweep"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/lib" "$BUNDLE/nofma"
cp "$WORK/aesweep" "$WORK/test_gpu" "$BUNDLE/"
cp "$WORK/nofma/aesweep" "$BUNDLE/nofma/"
git describe --always --dirty 2>/dev/null >"$BUNDLE/COMMIT" || echo unknown >"$BUNDLE/COMMIT"
binaries=("$BUNDLE/aesweep" "$BUNDLE/test_gpu" "$BUNDLE/nofma/aesweep")

# glibc's libraries: every Linux machine has its own, matched to its loader
GLIBC='/(libc|libm|libdl|librt|libpthread|libresolv|libutil|libanl|ld-linux[^/]*)\.so'
for bin in "${binaries[@]}"; do
    ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
done | sort -u | grep -Ev "$GLIBC" | xargs -r cp -L -t "$BUNDLE/lib/"
strip --strip-unneeded "${binaries[@]}" "$BUNDLE"/lib/*

# The check: in an empty environment (no LD_LIBRARY_PATH), nothing unresolved and
# nothing from outside the bundle but glibc.
bad=0
lib=$(realpath "$BUNDLE/lib")
for bin in "${binaries[@]}"; do
    while read -r name arrow path _; do
        [ "$arrow" = "=>" ] || continue
        case $(realpath -m "$path") in
        "$lib"/*) ;;
        *) if [ "$path" = not ] || ! grep -Eq "$GLIBC" <<<"$path"; then
               echo "bundle.sh: $bin: $name resolves to $path, outside the bundle"
               bad=1
           fi ;;
        esac
    done < <(env -i "$(command -v ldd)" "$(realpath "$bin")")
done
env -i "$BUNDLE/aesweep" --version >/dev/null || { echo "bundle.sh: $BUNDLE/aesweep does not start"; bad=1; }
bytes=$(du -sb "$BUNDLE" | cut -f1)
if [ "$bytes" -gt "$MAX_BYTES" ]; then
    echo "bundle.sh: $BUNDLE is $bytes bytes, over $MAX_BYTES (it must travel in 64 MiB with the tree)"
    bad=1
fi
[ $bad = 0 ] || exit 1
echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1), $(ls "$BUNDLE/lib" | wc -l) libraries, commit $(cat "$BUNDLE/COMMIT"))"
echo "on the GPU machine, in the repository with $BUNDLE carried along: bash tests/gpu/session.sh"
