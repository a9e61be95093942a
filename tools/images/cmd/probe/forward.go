package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func init() {
	register("forward", "--listen [HOST]:PORT --to HOST:PORT", forward)
}

// forward relays every TCP connection accepted on --listen to --to, both ways, until either side closes.
func forward(args []string) int {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on, e.g. :3306")
	to := fs.String("to", "", "address to relay to, e.g. 10.89.0.1:13306")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listen == "" || *to == "" {
		fmt.Fprintln(os.Stderr, "probe forward: both --listen (e.g. :3306) and --to (e.g. 10.89.0.1:13306) are required")
		return 2
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe forward: %v\n", err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				continue
			}
			go relay(c, *to)
		}
	}()
	fmt.Printf("forwarding %s to %s\n", l.Addr(), *to)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	return 0
}

func relay(in net.Conn, to string) {
	defer in.Close()
	out, err := net.DialTimeout("tcp", to, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe forward: %s: %v\n", to, err)
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}
