// STAND-IN for cjimti/go-ok (test/cluster/harness/build-standin-images.sh). Standard library only.
module example.local/k8s-infra/test/cluster/standin-images/go-ok

go 1.26.0
