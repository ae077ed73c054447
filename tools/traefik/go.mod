// Traefik, the test cluster's Ingress controller (test/cluster/harness/build-ingress-controller.sh, issue 22), pinned.
// Read by that script, not by `go install tool`: Traefik's go.mod has `replace` lines (its forks), which
// `go install module@version` refuses, so the script builds cmd/traefik inside a copy of the downloaded module source
// (hash checked against go.sum here). It serves our Ingresses through its kubernetesIngressNGINX provider: the
// IngressClass `nginx` with controller k8s.io/ingress-nginx, as a cluster running ingress-nginx has it.
//
// Why v3.6.12 and not v3.7.13 (the newest): v3.7.x points a `replace` line at a nested module
// (./pkg/config/dynamic/ext) that its module zip lacks, and replaces abbot/go-http-auth with a fork commit the proxy
// refuses; v3.6.12 has neither. Both need one cut (acme-dns-cut.go.in): lego's registry of ACME DNS-01
// providers is not linked, because the proxy refuses several of their SDKs. Nothing else is changed.
module k8s-infra/tools/traefik

go 1.26.8

require github.com/traefik/traefik/v3 v3.6.12
