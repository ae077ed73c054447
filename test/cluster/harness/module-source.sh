# shellcheck shell=bash
# Sourced by the builds of programs whose module `go install <module>@<version>` refuses (a go.mod with
# `replace` lines, or declaring another path than the proxy serves it under): they build inside the
# downloaded module source instead (build-sealed-secrets-controller.sh, build-flux-controllers.sh).
#
# module_source MODULE VERSION SUM
#   Downloads MODULE@VERSION through the Go module proxy (from a neutral folder: the download must not
#   depend on, or touch, any go.mod of ours), checks its hash against SUM (the h1: line of one of our
#   go.sum files, so no checksum database is asked) and prints the module's folder in the module cache
#   (read-only: copy it to edit). Fails, saying why, when the download gives no module or another hash.

module_source() {
  local module=$1 version=$2 want=$3 tmp json dir sum
  [ -n "$module" ] && [ -n "$version" ] && [ -n "$want" ] || { echo "module_source: MODULE VERSION SUM, got '$*'" >&2; return 1; }
  echo "${0##*/}: downloading $module@$version" >&2
  tmp=$(mktemp -d)
  json=$(cd "$tmp" && go mod download -json "$module@$version") || { rmdir "$tmp"; echo "$json" >&2; return 1; }
  rmdir "$tmp"
  dir=$(printf '%s' "$json" | sed -En 's#^[[:space:]]*"Dir": "(.*)",?$#\1#p')
  sum=$(printf '%s' "$json" | sed -En 's#^[[:space:]]*"Sum": "(.*)",?$#\1#p')
  [ -n "$dir" ] && [ -f "$dir/go.mod" ] || { echo "${0##*/}: go mod download gave no module folder:" >&2; echo "$json" >&2; return 1; }
  [ "$sum" = "$want" ] || { echo "${0##*/}: hash mismatch for $module@$version: downloaded $sum, pinned $want" >&2; return 1; }
  printf '%s\n' "$dir"
}
