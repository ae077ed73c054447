//go:build tools

// Package tools pins the commands this wrapper module builds, so that `go mod tidy` keeps their
// dependencies in go.mod/go.sum. Built with: test/cluster/harness/build.sh
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"     // the node (test/cluster/harness/node.sh)
	_ "k8s.io/kubernetes/cmd/kube-scheduler" // the node
	_ "k8s.io/kubernetes/cmd/kubectl"        // built only where no kubectl is installed
	_ "k8s.io/kubernetes/cmd/kubelet"        // the node
)
