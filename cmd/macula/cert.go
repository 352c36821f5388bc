package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

// Files written by the cert commands.
const (
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key"
	nodeCertFile = "node.crt"
)

func (a *app) certCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make and inspect realm CAs and node certificates",
		Long: `Make a realm CA (cert ca), issue node certificates from it (cert issue) and
inspect certificates (cert show). These commands work offline on files.

In production every node starts with the CA certificate and its own
certificate: macula start --ca ca.crt --cert node.crt --identity node.key.`,
		Example: `  macula cert ca --realm org.example.mesh --out ca
  macula cert issue --ca ca --identity node1.key --roles sensor --out node1`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(a.certCACommand(), a.certIssueCommand(), a.certShowCommand())
	return cmd
}

func (a *app) certCACommand() *cobra.Command {
	var realm, out string
	var validFor time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create a realm certificate authority",
		Long: `Create a realm CA: a new Ed25519 key and a self-signed CA certificate naming
the realm. It writes DIR/ca.crt, to give to every node (--ca), and DIR/ca.key
(mode 0600), to keep secret: whoever holds it can admit nodes to the realm.`,
		Example: "  macula cert ca --realm org.example.mesh --out ./ca --valid-for 87600h",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			if validFor < 0 {
				return usageErrorf("--valid-for must not be negative")
			}
			ca, err := security.NewRealmCA(realm, validFor)
			if err != nil {
				return err
			}
			certPEM, keyPEM, err := ca.MarshalPEM()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			certPath, keyPath := filepath.Join(out, caCertFile), filepath.Join(out, caKeyFile)
			if err := checkWritable(force, certPath, keyPath); err != nil {
				return err
			}
			if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
				return err
			}
			if err := writeFile(certPath, certPEM, 0o644); err != nil {
				return err
			}
			info := describeCert(certPath, ca.Certificate(), time.Now())
			if a.jsonOut {
				return a.printJSON(struct {
					certInfo
					Key string `json:"key_file"`
				}{info, keyPath})
			}
			fmt.Fprintf(a.stdout, "created realm CA for %s, valid until %s\n", ca.Realm(), info.NotAfter.Format(time.RFC3339))
			fmt.Fprintf(a.stdout, "  %s  give to every node (--ca)\n", certPath)
			_, err = fmt.Fprintf(a.stdout, "  %s  keep secret: it admits nodes to the realm\n", keyPath)
			return err
		},
	}
	cmd.Flags().StringVar(&realm, "realm", macula.DefaultRealm, "realm the CA admits nodes to")
	cmd.Flags().StringVar(&out, "out", ".", "directory to write ca.crt and ca.key to")
	cmd.Flags().DurationVar(&validFor, "valid-for", 0, "validity of the CA (default 10 years)")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

func (a *app) certIssueCommand() *cobra.Command {
	var caDir, realm, identity, out string
	var roles []string
	var validFor time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a node certificate from a realm CA",
		Long: `Issue a certificate for the node whose key is in --identity (created if
missing), signed by the CA in --ca (a directory holding ca.crt and ca.key,
as written by cert ca). It writes DIR/node.crt. --roles are stored in the
certificate for ACL rules. The node then starts with
--identity FILE --cert DIR/node.crt --ca CA/ca.crt.`,
		Example: "  macula cert issue --ca ./ca --realm org.example.mesh --identity node1.key --roles sensor,gateway --valid-for 720h --out ./node1",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			if caDir == "" {
				return usageErrorf("--ca is required: the directory of the realm CA (see macula cert ca)")
			}
			if identity == "" {
				return usageErrorf("--identity is required: the node's key file (created if missing)")
			}
			if validFor < 0 {
				return usageErrorf("--valid-for must not be negative")
			}
			for _, r := range roles {
				if strings.TrimSpace(r) == "" {
					return usageErrorf("--roles: empty role name")
				}
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			if realm != "" && realm != ca.Realm() {
				return fmt.Errorf("--realm %q: the CA in %s is for realm %q", realm, caDir, ca.Realm())
			}
			id, created, err := security.LoadOrCreateIdentity(identity)
			if err != nil {
				return fmt.Errorf("--identity %s: %w", identity, err)
			}
			der, err := ca.Issue(id.PublicKey(), security.IssueOptions{ValidFor: validFor, Roles: roles})
			if err != nil {
				return err
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			certPath := filepath.Join(out, nodeCertFile)
			if err := checkWritable(force, certPath); err != nil {
				return err
			}
			if err := writeFile(certPath, security.EncodeCertificatePEM(der), 0o644); err != nil {
				return err
			}
			info := describeCert(certPath, leaf, time.Now())
			if a.jsonOut {
				return a.printJSON(struct {
					certInfo
					Identity        string `json:"identity_file"`
					IdentityCreated bool   `json:"identity_created"`
				}{info, identity, created})
			}
			if created {
				fmt.Fprintf(a.stdout, "created identity %s\n", identity)
			}
			fmt.Fprintf(a.stdout, "issued %s for node %s in realm %s, roles %s, valid until %s\n",
				certPath, id.ID(), ca.Realm(), orDash(strings.Join(info.Roles, ",")), info.NotAfter.Format(time.RFC3339))
			_, err = fmt.Fprintf(a.stdout, "start the node with: macula start --realm %s --identity %s --cert %s --ca %s\n",
				ca.Realm(), identity, certPath, filepath.Join(caDir, caCertFile))
			return err
		},
	}
	cmd.Flags().StringVar(&caDir, "ca", "", "directory of the realm CA (ca.crt and ca.key)")
	cmd.Flags().StringVar(&realm, "realm", "", "realm to issue for; must be the CA's (default: the CA's)")
	cmd.Flags().StringVar(&identity, "identity", "", "the node's key file, created if missing")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles to put in the certificate, comma-separated")
	cmd.Flags().DurationVar(&validFor, "valid-for", 0, "validity of the certificate (default 1 year, at most the CA's)")
	cmd.Flags().StringVar(&out, "out", ".", "directory to write node.crt to")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing node.crt")
	return cmd
}

func (a *app) certShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Describe a certificate",
		Long: `Describe a Macula certificate (PEM or DER): for a node certificate its node
ID, realm, roles, validity and issuer; for a realm CA its realm and validity.`,
		Example: "  macula cert show node1/node.crt",
		Args:    exactArgs(1, "FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			cert, err := readCertificate(args[0])
			if err != nil {
				return err
			}
			info := describeCert(args[0], cert, time.Now())
			if a.jsonOut {
				return a.printJSON(info)
			}
			return writeCertInfo(a, info)
		},
	}
}

// certInfo describes a certificate, for cert show.
type certInfo struct {
	File       string         `json:"file"`
	Kind       string         `json:"kind"`
	NodeID     *macula.NodeID `json:"node_id,omitempty"`
	Realm      string         `json:"realm"`
	Roles      []string       `json:"roles"`
	NotBefore  time.Time      `json:"not_before"`
	NotAfter   time.Time      `json:"not_after"`
	Status     string         `json:"status"`
	Issuer     string         `json:"issuer"`
	SelfSigned bool           `json:"self_signed"`
	Serial     string         `json:"serial"`
	SHA256     string         `json:"sha256"`
	Problems   []string       `json:"problems,omitempty"`
}

// Kinds of certificates.
const (
	kindCA   = "realm-ca"
	kindNode = "node"
)

// describeCert describes c as of now.
func describeCert(file string, c *x509.Certificate, now time.Time) certInfo {
	sum := sha256.Sum256(c.Raw)
	info := certInfo{
		File:       file,
		Kind:       kindNode,
		Realm:      certRealm(c),
		Roles:      security.RolesOf(c),
		NotBefore:  c.NotBefore,
		NotAfter:   c.NotAfter,
		Status:     "valid",
		Issuer:     c.Issuer.CommonName,
		SelfSigned: c.CheckSignatureFrom(c) == nil,
		Serial:     c.SerialNumber.Text(16),
		SHA256:     hex.EncodeToString(sum[:]),
	}
	if info.Roles == nil {
		info.Roles = []string{}
	}
	switch {
	case now.Before(c.NotBefore):
		info.Status = "not yet valid"
	case now.After(c.NotAfter):
		info.Status = "expired"
	}
	if c.IsCA {
		info.Kind = kindCA
		return info
	}
	if len(c.URIs) == 0 || info.Realm == "" {
		info.Problems = append(info.Problems, "no macula:// URI SAN: not a Macula node certificate")
	}
	for _, u := range c.URIs {
		uri, err := security.ParseURI(u.String())
		if err != nil {
			continue
		}
		id := uri.NodeID
		info.NodeID = &id
		if pub, ok := c.PublicKey.(ed25519.PublicKey); !ok {
			info.Problems = append(info.Problems, "key is not Ed25519")
		} else if security.NodeIDFromPublicKey(pub) != id {
			info.Problems = append(info.Problems, "the node ID is not the hash of the certificate's key")
		}
		break
	}
	return info
}

func writeCertInfo(a *app, info certInfo) error {
	t := newTable(a.stdout)
	t.row("file", info.File)
	kind := "node certificate"
	if info.Kind == kindCA {
		kind = "realm CA certificate"
	} else if info.SelfSigned {
		kind += " (self-signed, dev mode)"
	}
	t.row("kind", kind)
	if info.NodeID != nil {
		t.row("node", info.NodeID.String())
	}
	t.row("realm", orDash(info.Realm))
	if info.Kind != kindCA {
		t.row("roles", orDash(strings.Join(info.Roles, ", ")))
	}
	t.row("valid", fmt.Sprintf("%s to %s (%s)", info.NotBefore.Format(time.RFC3339), info.NotAfter.Format(time.RFC3339), info.Status))
	issuer := orDash(info.Issuer)
	if info.SelfSigned {
		issuer += " (self)"
	}
	t.row("issuer", issuer)
	t.row("serial", info.Serial)
	t.row("sha256", info.SHA256)
	for _, p := range info.Problems {
		t.row("problem", p)
	}
	return t.flush()
}

// readCertificate reads the first certificate of a PEM or DER file.
func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bad certificate file: %w", err)
	}
	rest := data
	sawPEM := false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawPEM = true
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("bad certificate file %s: %w: %w", path, security.ErrInvalidCertificate, err)
			}
			return c, nil
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("bad certificate file %s: %w: it holds a private key, not a certificate", path, security.ErrInvalidCertificate)
		}
	}
	if !sawPEM {
		if c, err := x509.ParseCertificate(data); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("bad certificate file %s: %w: no CERTIFICATE in PEM or DER form", path, security.ErrInvalidCertificate)
}

// loadCA reads the CA written by cert ca into dir.
func loadCA(dir string) (*security.CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("--ca %s: %w (make a CA with macula cert ca)", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("--ca %s: %w", dir, err)
	}
	ca, err := security.ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--ca %s: %w", dir, err)
	}
	return ca, nil
}

// checkWritable fails if any path exists, unless force is set.
func checkWritable(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: use --force to replace it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeFile writes data to path with mode perm through a temporary file,
// so that no reader sees a partial file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
