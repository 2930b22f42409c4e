#!/bin/sh
# Builds {{name}}.wasm. Needs muster on PATH (or MUSTER=/path/to/muster) and a clang with the
# wasm32-wasi target: Debian's clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32.
set -eu
cd "$(dirname "$0")"
"${MUSTER:-muster}" plugin build-c --world {{world}} --wit wit -o {{name}}.wasm ./*.c
