#!/bin/sh
# Builds {{name}}.wasm. Needs componentize-py 0.25.1 on PATH, e.g.
#   python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1 && PATH=$PWD/.venv/bin:$PATH
set -eu
cd "$(dirname "$0")"
componentize-py -d wit -w {{world}} componentize app -o {{name}}.wasm
