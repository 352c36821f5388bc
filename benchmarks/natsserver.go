package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoNATSServer is returned when no nats-server binary is on PATH and
// none could be installed.
var ErrNoNATSServer = errors.New("nats-server not found on PATH; install it with `sudo apt-get install -y nats-server` (Debian, Ubuntu) or put a nats-server binary on PATH")

// FindNATSServer returns the path of the nats-server binary (see
// LookNATSServer). When there is none and install is true and this process runs as root with
// apt-get available, it installs Debian's nats-server package first,
// writing apt-get's output to log. Otherwise it fails with ErrNoNATSServer.
func FindNATSServer(ctx context.Context, install bool, log io.Writer) (string, error) {
	if p, err := LookNATSServer(); err == nil {
		return p, nil
	}
	if !install || os.Geteuid() != 0 {
		return "", ErrNoNATSServer
	}
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		return "", ErrNoNATSServer
	}
	fmt.Fprintln(log, "nats-server is missing: running apt-get install -y nats-server")
	install1 := exec.CommandContext(ctx, aptGet, "install", "-y", "nats-server")
	install1.Stdout, install1.Stderr = log, log
	if err := install1.Run(); err != nil {
		// The package lists may be missing or stale: update, then retry.
		update := exec.CommandContext(ctx, aptGet, "update")
		update.Stdout, update.Stderr = log, log
		if uerr := update.Run(); uerr != nil {
			return "", fmt.Errorf("%w (apt-get update: %v)", ErrNoNATSServer, uerr)
		}
		retry := exec.CommandContext(ctx, aptGet, "install", "-y", "nats-server")
		retry.Stdout, retry.Stderr = log, log
		if err := retry.Run(); err != nil {
			return "", fmt.Errorf("%w (apt-get install: %v)", ErrNoNATSServer, err)
		}
	}
	return LookNATSServer()
}

// LookNATSServer returns the path of nats-server on PATH, or in
// /usr/sbin where Debian's package puts it (not on every user's PATH).
// It fails with ErrNoNATSServer.
func LookNATSServer() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, p := range natsServerFallbacks {
		if p, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoNATSServer
}

// natsServerFallbacks are where LookNATSServer looks when nats-server is
// not on PATH.
var natsServerFallbacks = []string{"/usr/sbin/nats-server"}

// NATSServerVersion returns the output of `nats-server --version`.
func NATSServerVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", bin, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// natsServer is a nats-server child process listening on 127.0.0.1.
type natsServer struct {
	cmd    *exec.Cmd
	url    string
	cert   *testCert // nil: plain TCP
	exited chan struct{}
	out    *lockedBuffer
	once   sync.Once
}

// startNATSServer starts bin on a free port of 127.0.0.1, with TLS when
// cert is not nil, and waits until a client can connect. The child is
// killed by Close, and by the kernel if this process dies first (Linux).
func startNATSServer(ctx context.Context, bin string, cert *testCert) (*natsServer, error) {
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	scheme := "nats"
	if cert != nil {
		args = append(args, "--tls", "--tlscert", cert.CertFile, "--tlskey", cert.KeyFile)
		scheme = "tls"
	}
	s := &natsServer{
		cmd:    exec.Command(bin, args...),
		url:    fmt.Sprintf("%s://127.0.0.1:%d", scheme, port),
		cert:   cert,
		exited: make(chan struct{}),
		out:    &lockedBuffer{},
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	setChildAttrs(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nats-server: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := s.connect("probe")
		if err == nil {
			nc.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("nats-server %s exited: %s", strings.Join(args, " "), s.out.String())
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("nats-server at %s not ready after 10 s: %v: %s", s.url, err, s.out.String())
		}
	}
}

// connect opens a client connection that never reconnects, so that a
// lost server shows up as an error.
func (s *natsServer) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.NoReconnect(),
		nats.Timeout(2 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			s.out.WriteString(fmt.Sprintf("nats.go async error (%s): %v\n", name, err))
		}),
	}
	if s.cert != nil {
		opts = append(opts, nats.Secure(s.cert.clientTLS()))
	}
	nc, err := nats.Connect(s.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats-server at %s: %w", s.url, err)
	}
	return nc, nil
}

// connectN opens n connections; on error it closes those opened.
func (s *natsServer) connectN(n int) ([]*nats.Conn, error) {
	conns := make([]*nats.Conn, 0, n)
	for i := range n {
		nc, err := s.connect(fmt.Sprintf("bench-%d", i))
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, nc)
	}
	return conns, nil
}

func closeAll(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

// Close kills the server and waits for it to exit.
func (s *natsServer) Close() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a child's output, keeping its last 64 KiB.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > 64<<10 {
		b.buf.Next(b.buf.Len() - 64<<10)
	}
	return len(p), nil
}

func (b *lockedBuffer) WriteString(s string) { _, _ = b.Write([]byte(s)) }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
