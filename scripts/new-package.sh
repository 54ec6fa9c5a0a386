#!/bin/bash
# Creates a workspace package, or updates an existing one's workspace dependencies and
# project references (other dependencies are kept).
#   scripts/new-package.sh <dir> <name> "<dep dir> <dep dir> ..."
set -euo pipefail
dir=$1; name=$2; deps=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/$dir/src"
node - "$root" "$dir" "$name" $deps <<'JS'
const fs = require('fs');
const path = require('path');
const [root, dir, name, ...deps] = process.argv.slice(2);
const pkgDir = path.join(root, dir);
const pkgFile = path.join(pkgDir, 'package.json');
const pkg = fs.existsSync(pkgFile)
  ? JSON.parse(fs.readFileSync(pkgFile, 'utf8'))
  : {
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      exports: { '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' } },
      dependencies: {},
    };
pkg.dependencies ??= {};
for (const d of deps) {
  const depName = JSON.parse(fs.readFileSync(path.join(root, d, 'package.json'), 'utf8')).name;
  pkg.dependencies[depName] = 'workspace:*';
}
fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
const tsconfig = {
  extends: path.relative(pkgDir, path.join(root, 'tsconfig.base.json')),
  compilerOptions: { rootDir: 'src', outDir: 'dist' },
  include: ['src'],
  exclude: ['src/**/*.test.ts'],
  references: deps.map((d) => ({ path: path.relative(pkgDir, path.join(root, d)) })),
};
fs.writeFileSync(path.join(pkgDir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2) + '\n');
const index = path.join(pkgDir, 'src', 'index.ts');
if (!fs.existsSync(index)) fs.writeFileSync(index, 'export {};\n');
JS
