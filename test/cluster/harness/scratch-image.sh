# shellcheck shell=bash
# Sourced by build-node.sh and build-node-controllers.sh: images FROM scratch with buildah, in vfs storage of
# their own under $OUT (.cache/node-images; never another build's images: test:images uses vfs too), saved as
# docker-archives $OUT/NAME.tar with their reference in $OUT/NAME.ref, which the harness imports into its
# containerd (node.sh).
#
# scratch_image NAME TAG DIR USER ENTRYPOINT-JSON [ENV...]
#   DIR's contents become the image's root; USER (uid:gid) and ENTRYPOINT as given, no CMD, ENV entries
#   (KEY=VALUE) as given. The reference is localhost/k8s-infra-test/NAME:TAG.
# scratch_buildah ARGS...: buildah on that storage (e.g. `scratch_buildah rmi -a -f` once the archives exist).

scratch_buildah() { buildah --storage-driver vfs --root "$OUT/storage" --runroot "$OUT/runroot" "$@"; }

scratch_image() {
  local name=$1 tag=$2 dir=$3 user=$4 ep=$5 c ref e env=()
  shift 5
  for e in "$@"; do env+=(--env "$e"); done
  ref="localhost/k8s-infra-test/$name:$tag"
  c=$(scratch_buildah from scratch)
  scratch_buildah add "$c" "$dir" / >/dev/null
  scratch_buildah config --entrypoint "$ep" --cmd '' --user "$user" "${env[@]}" "$c"
  scratch_buildah commit -q "$c" "$ref" >/dev/null
  scratch_buildah rm "$c" >/dev/null
  rm -f "$OUT/$name.tar"
  scratch_buildah push -q "$ref" "docker-archive:$OUT/$name.tar:$ref"
  echo "$ref" >"$OUT/$name.ref"
  echo "${0##*/}: image $ref -> $OUT/$name.tar ($(du -m "$OUT/$name.tar" | cut -f1) MB)" >&2
}
