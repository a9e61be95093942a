package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("serve", "[--tcp PORT[,PORT...]] [--udp PORT[,PORT...]]", serve)
}

func ports(flagName, list string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--%s: %q is not a port (1-65535)", flagName, p)
		}
		out = append(out, n)
	}
	return out, nil
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	tcpList := fs.String("tcp", "", "comma-separated TCP ports")
	udpList := fs.String("udp", "", "comma-separated UDP ports")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tcpPorts, err := ports("tcp", *tcpList)
	if err == nil {
		var udpPorts []int
		if udpPorts, err = ports("udp", *udpList); err == nil {
			if len(tcpPorts)+len(udpPorts) == 0 {
				err = fmt.Errorf("give at least one port: --tcp 8080 or --udp 53")
			} else {
				return serveOn(tcpPorts, udpPorts)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "probe serve: %v\n", err)
	return 2
}

func serveOn(tcpPorts, udpPorts []int) int {
	reply := []byte("ok " + identity() + "\n")
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			fmt.Fprintf(os.Stderr, "probe serve: %v\n", err)
			return 1
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					continue
				}
				go func() {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					_, _ = c.Write(reply)
					_ = c.Close()
				}()
			}
		}()
	}
	for _, p := range udpPorts {
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err != nil {
			fmt.Fprintf(os.Stderr, "probe serve: %v\n", err)
			return 1
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				_, addr, err := pc.ReadFrom(buf)
				if err != nil {
					continue
				}
				_, _ = pc.WriteTo(reply, addr)
			}
		}()
	}
	fmt.Printf("serving tcp %v udp %v as %s", tcpPorts, udpPorts, reply)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	return 0
}
