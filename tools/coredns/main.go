// Command coredns is CoreDNS v1.15.0 with only the plugins the local cluster's Corefile uses
// (scripts/lib/local-netpol.sh: errors, health, ready, kubernetes, cache), embedded the way CoreDNS
// documents (core/dnsserver: import the plugins, set their execution order before the first server
// starts). The stock binary links every plugin, the cloud DNS providers' SDKs among them: about four
// times the build.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	// The stock order (core/dnsserver/zdirectives.go), restricted to these plugins.
	if err := dnsserver.SetDirectives([]string{"ready", "health", "errors", "cache", "kubernetes"}); err != nil {
		panic(err)
	}
	coremain.Run()
}
