#!/bin/bash
# usage: mkpkg.sh dir name "dep1 dep2" (workspace deps as dir paths relative to root)
dir=$1; name=$2; deps=$3
mkdir -p $dir/src
refs=""; wdeps=""
for d in $deps; do
  dn=$(node -e "console.log(require('/work/main/$d/package.json').name)")
  refs="$refs{ \"path\": \"$(realpath --relative-to=$dir /work/main/$d)\" },"
  wdeps="$wdeps\"$dn\": \"workspace:*\","
done
refs=${refs%,}; wdeps=${wdeps%,}
cat > $dir/package.json <<J
{
  "name": "$name",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "exports": {
    ".": { "source": "./src/index.ts", "types": "./dist/index.d.ts", "default": "./dist/index.js" }
  },
  "dependencies": { $wdeps }
}
J
cat > $dir/tsconfig.json <<J
{
  "extends": "$(realpath --relative-to=$dir /work/main)/tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist" },
  "include": ["src"],
  "exclude": ["src/**/*.test.ts"],
  "references": [ $refs ]
}
J
[ -f $dir/src/index.ts ] || echo "export {};" > $dir/src/index.ts
