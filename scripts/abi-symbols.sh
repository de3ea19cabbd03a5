#!/usr/bin/env bash
# Check that the header, the linker map and the shared object agree on the
# exported symbols:
#   - the map names every symbol, no wildcard in a global: list, and each
#     node after the first inherits the one before it (PROMSTORE_1.1 from
#     PROMSTORE_1), so that a later "Since: 1.x" is a real symbol version;
#   - every name the map lists is a function abi/promstore.h declares with
#     PROMSTORE_API, and every such function is in the map;
#   - the library exports exactly the (name, version) pairs of the map, one
#     default version (name@@VERSION) per name, and defines exactly the map's
#     version nodes.
# Usage: scripts/abi-symbols.sh [--map FILE] [--header FILE] [LIBRARY]
#   (defaults abi/promstore.map, abi/promstore.h, build/libpromstore.so.1)
set -euo pipefail
cd "$(dirname "$0")/.."

map=abi/promstore.map header=abi/promstore.h
while (($#)); do
  case $1 in
  --map) map=$2; shift 2 ;;
  --header) header=$2; shift 2 ;;
  *) break ;;
  esac
done
lib=${1:-build/libpromstore.so.1}
for f in "$map" "$header" "$lib"; do
  [[ -f $f ]] || { echo "abi-symbols: $f not found" >&2; exit 1; }
done
fail=0
problem() {
  echo "abi-symbols: $*"
  fail=1
}

# The map as "node parent" lines (parent "-" for the first) and "name node"
# lines; a wildcard in a global: list comes out as a name to be refused.
parsed=$(perl -0777 -ne '
  s{/\*.*?\*/}{}gs;
  while (/(\w[\w.]*)\s*\{(.*?)\}\s*([\w.]*)\s*;/gs) {
    my ($node, $body, $parent) = ($1, $2, $3 eq "" ? "-" : $3);
    print "node $node $parent\n";
    my ($global) = $body =~ /global\s*:(.*?)(?:local\s*:|$)/s;
    print "sym $_ $node\n" for grep { length } map { s/^\s+|\s+$//gr } split /;/, $global // "";
  }' "$map")
nodes=$(awk '$1 == "node" {print $2}' <<<"$parsed")
[[ -n $nodes ]] || problem "$map: no version node found"
prev=-
while read -r _ node parent; do
  [[ $parent == "$prev" ]] || problem "$map: node $node inherits '$parent', expected '$prev'"
  prev=$node
done < <(awk '$1 == "node"' <<<"$parsed")
map_pairs=$(awk '$1 == "sym" {print $2 "@" $3}' <<<"$parsed" | sort)
for pair in $map_pairs; do
  [[ ${pair%@*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || problem "$map: '${pair%@*}' in node ${pair#*@} is not one symbol name (no wildcards)"
done
map_names=$(sed 's/@.*//' <<<"$map_pairs" | sort -u)

# The functions the header declares: the name before the first "(" of every
# PROMSTORE_API declaration, comments and preprocessor lines left out.
header_names=$(perl -0777 -ne '
  s{/\*.*?\*/}{}gs; s{^\s*#.*$}{}gm;
  print "$1\n" while /\bPROMSTORE_API\b[^;{(]*?\b(\w+)\s*\(/gs' "$header" | sort -u)
[[ -n $header_names ]] || problem "$header: no PROMSTORE_API declaration found"
for name in $(comm -23 <(echo "$map_names") <(echo "$header_names")); do
  problem "$map lists $name, which $header does not declare"
done
for name in $(comm -13 <(echo "$map_names") <(echo "$header_names")); do
  problem "$header declares $name, which $map does not list (it would not be exported)"
done

# What the library exports. nm prints a function as name@@VERSION (the
# default version) or name@VERSION (an older one kept for old binaries), and
# each version node as an absolute symbol of its own name.
syms=$(nm -D --defined-only "$lib")
lib_nodes=$(awk '$2 == "A" {print $3}' <<<"$syms" | sort)
lib_pairs=$(awk '$2 != "A" {print $3}' <<<"$syms" | sed 's/@@*/@/' | sort)
for pair in $(comm -13 <(echo "$map_pairs") <(echo "$lib_pairs")); do
  [[ $pair == *@* ]] || pair="$pair@(no version)"
  problem "$lib exports ${pair%@*} under ${pair#*@}, which $map does not list there"
done
for pair in $(comm -23 <(echo "$map_pairs") <(echo "$lib_pairs")); do
  problem "$map lists ${pair%@*} under ${pair#*@}, which $lib does not export"
done
defaults=$(awk '$2 != "A" && sub(/@@.*/, "", $3) {print $3}' <<<"$syms")
for name in $(sed 's/@.*//' <<<"$lib_pairs" | sort -u); do
  n=$(grep -c -x -F "$name" <<<"$defaults" || true)
  ((n == 1)) || problem "$lib exports $name with $n default versions (name@@VERSION), expected 1"
done
if [[ $lib_nodes != "$(sort <<<"$nodes")" ]]; then
  problem "$lib defines version nodes [$(echo $lib_nodes)], $map has [$(echo $nodes)]"
fi

if ((fail)); then
  echo "abi-symbols: FAILED"
  exit 1
fi
echo "abi-symbols: OK ($(wc -w <<<"$map_pairs") symbols in $(wc -w <<<"$nodes") nodes: $(echo $nodes))"
