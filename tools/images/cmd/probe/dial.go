package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

func init() {
	register("dial", "tcp|udp HOST:PORT [--timeout 1500ms]", dial)
}

// dial connects once and prints "open <reply>" (exit 0) or "closed <reason>" (exit 1). TCP is open once the
// connection is established; the reply is the first line the server sends within the timeout (empty if none).
// UDP is open only when a datagram comes back within the timeout.
func dial(args []string) int {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "connect (and reply) timeout")
	pos, ok := transportArgs(fs, args, 2)
	if !ok {
		return 2
	}
	reply, err := dialOnce(pos[0], pos[1], *timeout)
	if err != nil {
		fmt.Printf("closed %s\n", reason(err))
		return 1
	}
	fmt.Printf("open %s\n", reply)
	return 0
}

func dialOnce(network, addr string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if network == "udp" {
		if _, err := c.Write([]byte("probe\n")); err != nil {
			return "", err
		}
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(buf[:n]), "\r\n"), nil
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		return "", nil // connected; the server said nothing (or closed) within the timeout
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// reason names the failure in a word: timeout, refused, unreachable, or the error text.
func reason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "unreachable"):
		return "unreachable"
	}
	return err.Error()
}
