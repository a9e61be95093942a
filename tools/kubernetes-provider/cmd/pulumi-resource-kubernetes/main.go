// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider plugin,
// built from github.com/pulumi/pulumi-kubernetes/provider/v4 (see ../../go.mod).
//
// It is the same as upstream's cmd/pulumi-resource-kubernetes main package, whose two
// embedded files are made by `go generate` in the source tree. The module cache is
// read-only, so scripts/bootstrap-toolchain.sh makes them with ../../genembed and
// supplies them here through `go build -overlay`; they are never written to this
// directory. Build it with the script, not with a bare `go build`.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

var providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
