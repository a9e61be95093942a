// Command probe is the traffic probe of the local node's tests (image localhost/cv/probe): a static binary that
// serves and dials TCP and UDP, and relays TCP.
//
//	probe serve [--tcp 8080,5672] [--udp 53]           answer "ok <POD_NAME or hostname>\n" on every port
//	probe dial tcp|udp HOST:PORT [--timeout 1500ms]    print "open <reply>" (exit 0) or "closed <reason>" (exit 1)
//	probe forward --listen :3306 --to 10.89.0.1:13306  relay TCP connections
//
// Each subcommand lives in its own file and registers itself in commands (init), so another one can be added in
// a file of its own.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
)

// A subcommand gets the arguments after its name and returns the exit code.
type command struct {
	usage string
	run   func(args []string) int
}

var commands = map[string]command{}

func register(name, usage string, run func(args []string) int) { commands[name] = command{usage, run} }

func usage() {
	fmt.Fprintln(os.Stderr, "usage:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  probe %s %s\n", n, commands[n].usage)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "probe: unknown subcommand %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}

// transportArgs parses a subcommand's arguments, `tcp|udp` and then n-1 more, with fs's flags before, between or
// after them. It prints the subcommand's usage and returns false (exit 2) when they do not fit.
func transportArgs(fs *flag.FlagSet, args []string, n int) ([]string, bool) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n || (pos[0] != "tcp" && pos[0] != "udp") {
		fmt.Fprintf(os.Stderr, "probe %s: want `probe %s %s`\n", fs.Name(), fs.Name(), commands[fs.Name()].usage)
		return nil, false
	}
	return pos, true
}

// identity is what the server answers: the pod name from the downward API (POD_NAME), else the host name.
func identity() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
