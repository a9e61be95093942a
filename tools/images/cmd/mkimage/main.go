// Command mkimage turns root file system directories into a container image tarball (docker-archive format, which
// `ctr -n k8s.io images import` and `docker load` accept), with github.com/google/go-containerregistry.
//
//	mkimage --rootfs DIR [--rootfs DIR2] --name localhost/cv/<x>:<tag> [--entrypoint /bin/x --entrypoint arg]
//	        [--cmd arg]... [--user 65532] [--env K=V]... [--workdir /] --out FILE.tar
//
// Each --rootfs is one layer, in order. The layers are reproducible: entries sorted by path, owned by root (0:0),
// modification times zeroed, so the same input gives the same image digest. Regular files, directories and
// symbolic links are kept with their permission bits; other file types (devices, sockets, pipes) are refused.
// On success it prints the image's config digest (the image ID) on stdout.
package main

import (
	"archive/tar"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fset := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var rootfs, entrypoint, cmd, env multi
	fset.Var(&rootfs, "rootfs", "directory whose content becomes one layer (repeatable, in order)")
	fset.Var(&entrypoint, "entrypoint", "entrypoint word (repeatable: one flag per argv element)")
	fset.Var(&cmd, "cmd", "default argument word (repeatable)")
	fset.Var(&env, "env", "environment variable K=V (repeatable)")
	ref := fset.String("name", "", "image reference, e.g. localhost/cv/probe:1")
	user := fset.String("user", "", "user (and group) the image runs as, e.g. 65532 or 65532:65532")
	workdir := fset.String("workdir", "/", "working directory")
	out := fset.String("out", "", "output tarball path")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fset.Arg(0))
	}
	if len(rootfs) == 0 {
		return errors.New("--rootfs is required: give the directory that holds the image's files")
	}
	if *ref == "" {
		return errors.New("--name is required: give the image reference, e.g. localhost/cv/probe:1")
	}
	if *out == "" {
		return errors.New("--out is required: give the path of the tarball to write")
	}
	tag, err := name.NewTag(*ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--name %q is not a tagged image reference: %w", *ref, err)
	}
	for _, kv := range env {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") {
			return fmt.Errorf("--env %q must be KEY=VALUE", kv)
		}
	}

	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Config: v1.Config{
			Entrypoint: entrypoint,
			Cmd:        cmd,
			Env:        env,
			User:       *user,
			WorkingDir: *workdir,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return err
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(*out), ".mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	for i, dir := range rootfs {
		layerPath := filepath.Join(tmpDir, fmt.Sprintf("layer%d.tar", i))
		if err := writeLayer(dir, layerPath); err != nil {
			return fmt.Errorf("--rootfs %s: %w", dir, err)
		}
		layer, err := tarball.LayerFromFile(layerPath)
		if err != nil {
			return err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "mkimage --rootfs " + filepath.Base(dir)}}); err != nil {
			return err
		}
	}
	tmpOut := *out + ".tmp"
	if err := tarball.WriteToFile(tmpOut, tag, img); err != nil {
		return err
	}
	if err := os.Rename(tmpOut, *out); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Println(id.String())
	return nil
}

// writeLayer writes the content of dir as a reproducible tar file at path.
func writeLayer(dir, path string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return errors.New("not a directory")
	}
	var paths []string
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if fi.Mode()&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case fi.Mode().IsRegular():
			hdr.Typeflag = tar.TypeReg
			hdr.Size = fi.Size()
		case fi.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case fi.Mode()&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported file type %s (only files, directories and symlinks)", rel, fi.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
