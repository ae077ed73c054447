// Command etcd is upstream etcd's own main (go.etcd.io/etcd/server/v3/main.go), built from this
// pinned module because `go install go.etcd.io/etcd/server/v3@vX` refuses etcd's replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
