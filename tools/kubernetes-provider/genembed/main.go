// Command genembed prepares the two files that
// github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes embeds
// (schema-embed.json and terraform-mapping-embed.json). Upstream creates them with
// `go generate` inside the source tree; the module cache is read-only, so
// scripts/bootstrap-toolchain.sh writes them elsewhere and hands them to
// `go build -overlay`.
//
// Usage: genembed -version 4.25.0 -src <dir with schema.json> -out <dir>
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	version := flag.String("version", "", "provider version to stamp into the schema")
	src := flag.String("src", "", "directory holding schema.json and terraform-mapping.json")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *version == "" || *src == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}

	// The schema goes through schema.PackageSpec, with its version set.
	var spec schema.PackageSpec
	readJSON(filepath.Join(*src, "schema.json"), &spec)
	spec.Version = *version
	writeJSON(filepath.Join(*out, "schema-embed.json"), spec)

	// The Terraform mapping is only compacted.
	var mapping any
	readJSON(filepath.Join(*src, "terraform-mapping.json"), &mapping)
	writeJSON(filepath.Join(*out, "terraform-mapping-embed.json"), mapping)
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("cannot parse %s: %v", path, err)
	}
}

func writeJSON(path string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Fatalf("cannot serialize %s: %v", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
