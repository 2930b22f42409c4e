#!/bin/sh
# Builds {{name}}.wasm. Needs componentize-js 0.23.0: `npm install` here (package.json pins it)
# puts it in node_modules/.bin; one already on PATH works too.
set -eu
cd "$(dirname "$0")"
PATH="$PWD/node_modules/.bin:$PATH"
componentize-js --wit wit --world-name {{world}} --disable http fetch-event --out {{name}}.wasm app.js
