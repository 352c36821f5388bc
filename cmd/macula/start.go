package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/org/macula"
	"github.com/org/macula/cmd/macula/internal/admin"
	"github.com/org/macula/discovery"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// shutdownTimeout bounds the admin API's shutdown; the node's own Close
// is bounded by its leave timeout.
const shutdownTimeout = 5 * time.Second

// startFlags are the flags of `macula start`.
type startFlags struct {
	realm     string
	listen    string
	bootstrap []string
	advertise []string
	identity  string
	caFile    string
	certFile  string
	keyFile   string
	aclFile   string
	discovery []string
	topologyK int
	logFormat string
	logLevel  string
}

func (a *app) startCommand() *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node in the foreground",
		Long: `Run a Macula node until SIGINT or SIGTERM, then leave the mesh gracefully
(other nodes see it as "left") and exit 0.

The node binds --listen (UDP), joins the --bootstrap addresses and the nodes
--discovery finds, and serves the admin API the other macula commands use at
--admin: a loopback TCP address or a unix socket, never the mesh address.

Without --identity the node gets a new ID at every start. Without --ca and
--cert it runs in dev mode: self-signed certificates, any node may join.
With them, only nodes holding certificates of the realm CA get in (see
macula cert). --key defaults to the --identity file, which is the key that
macula cert issue certifies.

--discovery takes comma-separated sources:
  mdns          multicast DNS on the system's default interface
  mdns:IFACE    multicast DNS on interface IFACE
  dns:NAME      the DNS SRV records of NAME, e.g. _macula._udp.example.org.
  static:ADDR   a fixed address (host:port or macula:// URI)

Logs go to stderr: human-readable by default, JSON with --log-format json.`,
		Example: `  macula start --realm org.example.mesh --listen 0.0.0.0:4433 --identity /var/lib/macula/node.key \
    --bootstrap 10.0.0.7:4433 --admin 127.0.0.1:4480`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.start(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.realm, "realm", macula.DefaultRealm, "realm to join (reverse-DNS name)")
	fl.StringVar(&f.listen, "listen", macula.DefaultListenAddr, "UDP address to bind for the mesh")
	fl.StringSliceVar(&f.bootstrap, "bootstrap", nil, "addresses (host:port or macula:// URI) to join; repeat or separate with commas")
	fl.StringSliceVar(&f.advertise, "advertise", nil, "addresses to tell peers to dial (default: the bound address)")
	fl.StringVar(&f.identity, "identity", "", "node key file, created if missing (default: a new identity each start)")
	fl.StringVar(&f.caFile, "ca", "", "realm CA certificate (PEM) peers must chain to")
	fl.StringVar(&f.certFile, "cert", "", "this node's certificate (PEM), issued by the realm CA")
	fl.StringVar(&f.keyFile, "key", "", "the certificate's private key (default: the --identity file)")
	fl.StringVar(&f.aclFile, "acl", "", "access control list file (JSON or YAML, see security.ParseACL)")
	fl.StringSliceVar(&f.discovery, "discovery", nil, "discovery sources: mdns[:IFACE], dns:NAME, static:ADDR")
	fl.IntVar(&f.topologyK, "topology", 2, "overlay links each node keeps (k of the k-connected overlay)")
	fl.StringVar(&f.logFormat, "log-format", "console", "log format: console or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// start runs a node until ctx ends.
func (a *app) start(ctx context.Context, f startFlags) error {
	log, err := newLogger(f.logFormat, f.logLevel, a.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	addr, err := admin.ParseAddr(a.adminAddr)
	if err != nil {
		return fmt.Errorf("--admin: %w", err)
	}
	opts, err := f.nodeOptions(log)
	if err != nil {
		return err
	}

	// Bind the admin API first: if its address is taken, the node must not
	// join the mesh only to leave it again.
	ln, err := admin.Listen(addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w (is another macula start running? give this one another --admin)", err)
		}
		return err
	}
	started := time.Now()
	node, err := macula.New(opts...)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("start node: %w", err)
	}
	version := fmt.Sprintf("macula %s (%s)", buildVersion(), transport.Software)
	srv := admin.NewServer(admin.NodeBackend(node, version, started), log.Named("admin"))
	srv.Start(ln)
	log.Info("admin API listening", zap.Stringer("admin", addr))
	log.Info("node ready: others can join it with `macula join "+node.URI()+"`",
		zap.Stringer("id", node.ID()), zap.String("uri", node.URI()))

	<-ctx.Done()
	// A second signal now kills the process the default way.
	a.stopSignals()
	log.Info("shutting down: leaving the mesh")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	serr := srv.Close(sctx)
	nerr := node.Close()
	if err := errors.Join(serr, nerr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// nodeOptions turns the flags into options of macula.New.
func (f startFlags) nodeOptions(log *zap.Logger) ([]macula.Option, error) {
	if err := security.ValidateRealm(f.realm); err != nil {
		return nil, fmt.Errorf("--realm: %w", err)
	}
	opts := []macula.Option{
		macula.WithRealm(f.realm),
		macula.WithListenAddr(f.listen),
		macula.WithLogger(log),
		macula.WithTopology(f.topologyK),
	}
	if len(f.bootstrap) > 0 {
		opts = append(opts, macula.WithBootstrap(f.bootstrap...))
	}
	if len(f.advertise) > 0 {
		opts = append(opts, macula.WithAdvertiseAddrs(f.advertise...))
	}
	if f.identity != "" {
		opts = append(opts, macula.WithIdentityFile(f.identity))
	}
	tlsOpts, err := f.tlsOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, tlsOpts...)
	discOpts, err := parseDiscovery(f.discovery)
	if err != nil {
		return nil, err
	}
	opts = append(opts, discOpts...)
	if f.aclFile != "" {
		acl, err := security.LoadACL(f.aclFile)
		if err != nil {
			return nil, fmt.Errorf("--acl %s: %w", f.aclFile, err)
		}
		opts = append(opts, macula.WithACL(acl))
	}
	return opts, nil
}

// tlsOptions loads the realm CA and the node's certificate.
func (f startFlags) tlsOptions() ([]macula.Option, error) {
	switch {
	case f.caFile == "" && f.certFile == "" && f.keyFile == "":
		return nil, nil
	case f.caFile == "":
		return nil, errors.New("--cert and --key need --ca, the realm CA certificate")
	case f.certFile == "":
		return nil, errors.New("--ca needs --cert, this node's certificate (make one with `macula cert issue`)")
	}
	pool, err := security.LoadCertPool(f.caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca %s: %w", f.caFile, err)
	}
	keyFile := f.keyFile
	if keyFile == "" {
		keyFile = f.identity
	}
	if keyFile == "" {
		return nil, errors.New("--cert needs --key or --identity, the certificate's private key")
	}
	cert, id, err := security.LoadTLSCertificate(f.certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--cert %s: %w", f.certFile, err)
	}
	if f.identity != "" && keyFile != f.identity {
		fileID, err := security.LoadIdentity(f.identity)
		if err == nil && fileID.ID() != id.ID() {
			return nil, fmt.Errorf("--key %s holds node %s but --identity %s holds node %s", keyFile, id.ID().Short(), f.identity, fileID.ID().Short())
		}
	}
	if realm := certRealm(cert.Leaf); realm != f.realm {
		return nil, fmt.Errorf("--cert %s is for realm %q, not %q", f.certFile, realm, f.realm)
	}
	return []macula.Option{macula.WithRealmCA(pool), macula.WithCertificate(cert)}, nil
}

// certRealm is the realm of a node certificate's macula:// URI SAN, "" if
// it has none.
func certRealm(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	for _, u := range c.URIs {
		if strings.EqualFold(u.Scheme, security.URIScheme) {
			return u.Host
		}
	}
	return ""
}

// parseDiscovery turns --discovery entries into options.
func parseDiscovery(entries []string) ([]macula.Option, error) {
	var opts []macula.Option
	var sources []discovery.Source
	for _, e := range entries {
		kind, arg, _ := strings.Cut(strings.TrimSpace(e), ":")
		switch kind {
		case "mdns":
			if arg != "" {
				if _, err := net.InterfaceByName(arg); err != nil {
					return nil, fmt.Errorf("--discovery %s: %w", e, err)
				}
			}
			opts = append(opts, macula.WithMDNS(arg))
		case "dns":
			if arg == "" {
				return nil, fmt.Errorf("--discovery %s: want dns:NAME such as dns:_macula._udp.example.org", e)
			}
			src, err := discovery.DNSSRV(discovery.DNSSRVConfig{Name: arg})
			if err != nil {
				return nil, fmt.Errorf("--discovery %s: %w", e, err)
			}
			sources = append(sources, src)
		case "static":
			if arg == "" {
				return nil, fmt.Errorf("--discovery %s: want static:ADDR", e)
			}
			sources = append(sources, discovery.Static(arg))
		default:
			return nil, fmt.Errorf("--discovery %q: unknown source: want mdns[:IFACE], dns:NAME or static:ADDR", e)
		}
	}
	if len(sources) > 0 {
		opts = append(opts, macula.WithDiscovery(sources...))
	}
	return opts, nil
}

// newLogger makes the node's logger: zap's console encoder (colored when
// w is a terminal) or its JSON encoder, at level.
func newLogger(format, level string, w interface{ Write([]byte) (int, error) }) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	switch format {
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00")
		if isTerminal(w) {
			cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(cfg)
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	default:
		return nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
