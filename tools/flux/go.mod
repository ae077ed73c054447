// The Flux controllers the cluster tests run (test/cluster/flux.sh), pinned. Read by
// test/cluster/harness/build-flux-controllers.sh, not by `go install tool`: both modules' go.mod carry
// `replace ... => ./api` lines, which `go install module@version` refuses, so the script builds each inside a
// copy of its downloaded module source (hashes checked against go.sum here) with that line dropped (the api
// module is required at the same version). README, "GitOps", says why these versions.
module k8s-infra/tools/flux

go 1.26.8

require (
	github.com/fluxcd/kustomize-controller v1.9.6
	github.com/fluxcd/source-controller v1.9.6
)

// source-controller v1.9.6 requires github.com/fluxcd/pkg/artifact v0.18.3, which proxy.golang.org refuses
// ("This module version is not available"); v0.18.0 is served. The build script applies this replacement to
// source-controller's go.mod; test/cluster/flux.sh exercises what we rely on of it (the artifact storage, its
// archive and digest, served over HTTP to kustomize-controller).
replace github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0
