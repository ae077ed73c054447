// Command netcheck is the node suite's hardened test program, one static binary:
//
//	netcheck serve            HTTP on $PORT (default 8080): GET / answers JSON (a go-ok-like
//	                          contract: {"message":"ok","pod":$POD_NAME,...}), any other path 404.
//	                          Exits on SIGTERM.
//	netcheck get URL [CAFILE] GET URL (3 s timeout); prints the body; exit 0 only on 2xx. With CAFILE,
//	                          TLS is verified against it (the server name is the URL's host).
//	netcheck post URL JSON    POST JSON to URL (3 s timeout); prints the body; exit 0 only on 2xx.
//	netcheck load URL SECONDS [WORKERS]
//	                          GET URL in a loop from WORKERS (default 4) goroutines for SECONDS; prints
//	                          the count of 2xx and other answers (CPU load for an autoscaler).
//	netcheck tcp HOST:PORT    exit 0 when a TCP connection opens within 3 s.
//	netcheck lookup NAME      prints the addresses NAME resolves to (through /etc/resolv.conf).
//	netcheck write PATH       exit 0 when PATH can be created and written.
//	netcheck sleep            blocks until SIGTERM (a client pod).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "netcheck: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: netcheck serve|get URL [CAFILE]|tcp HOST:PORT|lookup NAME|write PATH|sleep")
	}
	switch os.Args[1] {
	case "serve":
		serve()
	case "get":
		if len(os.Args) < 3 {
			die("usage: netcheck get URL [CAFILE]")
		}
		ca := ""
		if len(os.Args) > 3 {
			ca = os.Args[3]
		}
		get(os.Args[2], ca)
	case "post":
		if len(os.Args) < 4 {
			die("usage: netcheck post URL JSON")
		}
		post(os.Args[2], os.Args[3])
	case "load":
		if len(os.Args) < 4 {
			die("usage: netcheck load URL SECONDS [WORKERS]")
		}
		secs, err := time.ParseDuration(os.Args[3] + "s")
		if err != nil {
			die("%v", err)
		}
		workers := 4
		if len(os.Args) > 4 {
			if _, err := fmt.Sscan(os.Args[4], &workers); err != nil {
				die("%v", err)
			}
		}
		load(os.Args[2], secs, workers)
	case "tcp":
		c, err := net.DialTimeout("tcp", os.Args[2], 3*time.Second)
		if err != nil {
			die("%v", err)
		}
		c.Close()
		fmt.Println("connected")
	case "lookup":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, os.Args[2])
		if err != nil {
			die("%v", err)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "write":
		if err := os.WriteFile(os.Args[2], []byte("x"), 0o600); err != nil {
			die("%v", err)
		}
		os.Remove(os.Args[2])
		fmt.Println("written")
	case "sleep":
		waitSignal()
	default:
		die("unknown command %q", os.Args[1])
	}
}

func waitSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		host, _ := os.Hostname()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"message": "ok", "hostname": host, "uid": fmt.Sprint(os.Getuid()),
			"pod": os.Getenv("POD_NAME"), "namespace": os.Getenv("POD_NAMESPACE"),
			"node": os.Getenv("NODE_NAME"), "podIP": os.Getenv("POD_IP"),
		})
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		waitSignal()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		die("%v", err)
	}
}

func get(url, caFile string) {
	tr := &http.Transport{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			die("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			die("no certificate in %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &http.Client{Timeout: 3 * time.Second, Transport: tr}
	resp, err := c.Get(url)
	if err != nil {
		die("%v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Printf("%s", body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		die("HTTP %d", resp.StatusCode)
	}
}

func post(url, body string) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		die("%v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Printf("%s", out)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		die("HTTP %d", resp.StatusCode)
	}
}

func load(url string, d time.Duration, workers int) {
	var ok, bad atomic.Int64
	end := time.Now().Add(d)
	done := make(chan struct{})
	for i := 0; i < workers; i++ {
		go func() {
			c := &http.Client{Timeout: 3 * time.Second}
			for time.Now().Before(end) {
				resp, err := c.Get(url)
				if err != nil {
					bad.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 200 && resp.StatusCode < 300 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < workers; i++ {
		<-done
	}
	fmt.Printf("ok %d other %d\n", ok.Load(), bad.Load())
}
