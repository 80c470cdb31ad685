'use strict'
// `npm pack` / `npm publish` guard (the package's `prepack` script): refuse to pack
// a package without the compiled addon, which would install fine and then fail at
// the first import. Also used by keel.js to explain a missing addon.
const fs = require('node:fs')
const path = require('node:path')

const BUILD_HINT =
  'build it first: in keel\'s node/ directory run `npm ci && npm run build` ' +
  '(then `npm pack` makes a tarball that contains it, to `npm install` elsewhere)'

function addons (dir) {
  return fs.readdirSync(dir).filter((f) => /^keel\..+\.node$/.test(f))
}

module.exports = { BUILD_HINT, addons }

if (require.main === module) {
  const found = addons(__dirname)
  if (found.length === 0) {
    console.error(`@keel/core: no compiled addon (keel.<platform>.node) in ${__dirname}; ${BUILD_HINT}`)
    process.exit(1)
  }
  console.error(`@keel/core: packing ${found.join(', ')}`)
}
