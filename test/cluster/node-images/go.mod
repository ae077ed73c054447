// Small static programs for the test cluster's node images (test/cluster/harness/build-node.sh):
// pause (the pod sandbox) and netcheck (a hardened server and client for the node suite). Standard
// library only.
module example.local/k8s-infra/test/cluster/node-images

go 1.26.0
