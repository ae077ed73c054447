// STAND-IN for cjimti/go-ok, built by test/cluster/harness/build-standin-images.sh for the node suite. It keeps
// go-ok's contract (../../shared research, seeds.md section 1), not its code:
//   - listens on :$PORT (default 8080);
//   - GET / answers 200 with JSON: message "ok", time, count, uuid_call, uuid_instance, client_ip, version,
//     version_msg, and the identity fields node_name, pod_name, pod_namespace, pod_ip from the env vars
//     NODE_NAME, POD_NAME, POD_NAMESPACE, POD_IP (empty when unset, as upstream);
//   - any other path or method: 404 (gin's default);
//   - SIGTERM or SIGINT: stops serving and exits 0;
//   - one JSON access-log line per request on stdout.
//
// Standard library only, static (CGO_ENABLED=0), FROM scratch.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const version = "standin-1"

func uuid4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// clientIP like gin's ClientIP: X-Forwarded-For's first address, then X-Real-Ip, then the peer.
func clientIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		return strings.TrimSpace(strings.Split(xff, ",")[0])
	}
	if xr := strings.TrimSpace(r.Header.Get("X-Real-Ip")); xr != "" {
		return xr
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	instance := uuid4()
	var count atomic.Int64
	logger := log.New(os.Stdout, "", 0)

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := http.StatusOK
		if r.Method != http.MethodGet || r.URL.Path != "/" {
			status = http.StatusNotFound
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("404 page not found"))
		} else {
			body := map[string]any{
				"message":       "ok",
				"time":          start.UTC().Format(time.RFC3339Nano),
				"count":         count.Add(1),
				"uuid_call":     uuid4(),
				"uuid_instance": instance,
				"client_ip":     clientIP(r),
				"version":       version,
				"version_msg":   "stand-in for cjimti/go-ok (k8s-infra node suite)",
				"node_name":     os.Getenv("NODE_NAME"),
				"pod_name":      os.Getenv("POD_NAME"),
				"pod_namespace": os.Getenv("POD_NAMESPACE"),
				"pod_ip":        os.Getenv("POD_IP"),
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(body)
		}
		line, _ := json.Marshal(map[string]any{"level": "info", "ts": start.UTC().Format(time.RFC3339Nano), "method": r.Method,
			"path": r.URL.Path, "status": status, "client_ip": clientIP(r), "latency_ms": time.Since(start).Milliseconds()})
		logger.Println(string(line))
	})

	srv := &http.Server{Addr: ":" + port, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-stop
		logger.Printf(`{"level":"info","msg":"%s: shutting down"}`, s)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	logger.Printf(`{"level":"info","msg":"listening on :%s","version":"%s","uuid_instance":"%s"}`, port, version, instance)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		logger.Printf(`{"level":"fatal","msg":%q}`, err.Error())
		os.Exit(1)
	}
}
