package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

func init() {
	register("dns", "udp|tcp SERVER:PORT NAME [--timeout 1500ms]", dnsQuery)
}

// dnsQuery asks one DNS server for NAME's addresses over exactly the given transport (UDP datagrams or TCP
// stream framing, never a fallback to the other) and prints "open <addresses>" (exit 0), "open NXDOMAIN" when the
// server answered that the name does not exist, "open SERVFAIL" when it answered with a failure (exit 0 for both:
// the server was reached), or "closed <reason>" (exit 1).
// Write NAME with a trailing dot so that the search domains of /etc/resolv.conf are not tried.
func dnsQuery(args []string) int {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "time for the whole lookup")
	pos, ok := transportArgs(fs, args, 3)
	if !ok {
		return 2
	}
	transport, server, name := pos[0], pos[1], pos[2]
	r := &net.Resolver{
		PreferGo: true,
		// The resolver frames by the connection's type: a UDP conn gets datagrams, a TCP conn length-prefixed messages.
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, transport, server)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			fmt.Println("open NXDOMAIN")
			return 0
		}
		if errors.As(err, &de) && de.Err == "server misbehaving" {
			fmt.Println("open SERVFAIL") // an answer all the same: the server was reached
			return 0
		}
		if errors.As(err, &de) && de.IsTimeout {
			fmt.Println("closed timeout")
			return 1
		}
		fmt.Printf("closed %s\n", reason(err))
		return 1
	}
	sort.Strings(addrs)
	fmt.Printf("open %s\n", strings.Join(addrs, ","))
	return 0
}
