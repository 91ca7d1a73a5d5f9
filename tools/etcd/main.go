// Command etcd is the etcd server, built from the go.etcd.io/etcd/server/v3 module at the version
// pinned in go.mod, exactly as etcd's own server/main.go does. etcdctl and etcdutl are built from
// their modules' main packages, which go.mod lists as tools so that `go mod tidy` keeps them:
//
//	go build -o DIR/ . go.etcd.io/etcd/etcdctl/v3 go.etcd.io/etcd/etcdutl/v3
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
