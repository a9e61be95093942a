// The local node's images (scripts/bootstrap-node.sh): cmd/mkimage turns a root file system into an image tarball
// with github.com/google/go-containerregistry; cmd/pause is the pod sandbox; cmd/probe the traffic probe.
module collectverything.local/tools/images

go 1.25.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
