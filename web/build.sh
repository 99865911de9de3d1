#!/usr/bin/env bash
# Builds the web site as it is published: dist/ holds index.html, the wasm and its JavaScript glue (named by a hash
# of their contents, so caches never serve a stale copy), the icon and the service worker. It needs only cargo, the
# wasm32-unknown-unknown target and wasm-bindgen-cli at Cargo.lock's version (see README: in the browser); Trunk
# (`trunk serve`) remains the development server, reading the same index.html.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=wasm-release
cargo build --profile "$profile" --target wasm32-unknown-unknown --bin ticketlab
rm -rf dist
mkdir -p dist
wasm-bindgen --target web --no-typescript --out-dir dist --out-name ticketlab \
  "target/wasm32-unknown-unknown/$profile/ticketlab.wasm"

hash() { sha256sum "$1" | cut -c1-16; }
app="ticketlab-$(hash dist/ticketlab_bg.wasm)"
mv dist/ticketlab_bg.wasm "dist/${app}_bg.wasm"
sed "s/ticketlab_bg\.wasm/${app}_bg.wasm/g" dist/ticketlab.js > "dist/$app.js"
rm dist/ticketlab.js
icon="favicon-$(hash web/favicon.svg).svg"
cp web/favicon.svg "dist/$icon"
cp web/sw.js dist/sw.js

# index.html names its assets as Trunk does (`<link data-trunk …>`); each becomes what Trunk would write. An asset
# this script does not know stops the build rather than being left out of the site.
start="<script type=\"module\">import init from './$app.js'; await init({ module_or_path: './${app}_bg.wasm' });</script>"
preload="<link rel=\"modulepreload\" href=\"./$app.js\"><link rel=\"preload\" href=\"./${app}_bg.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin>"
sed -e "s|^\( *\)<link data-trunk rel=\"rust\"[^>]*>|\1$start\n\1$preload|" \
  -e "s|<link data-trunk rel=\"icon\" href=\"web/favicon.svg\">|<link rel=\"icon\" href=\"./$icon\">|" \
  -e "/<link data-trunk rel=\"copy-file\" href=\"web\/sw.js\">/d" \
  index.html > dist/index.html
if grep -n 'data-trunk' dist/index.html; then
  echo "web/build.sh: index.html names an asset this script does not build (above)" >&2
  exit 1
fi
ls -l dist
