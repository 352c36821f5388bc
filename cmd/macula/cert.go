package main

import (
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
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create a realm certificate authority",
		Long: `Create a realm CA: a new Ed25519 key and a self-signed CA certificate naming
the realm. It writes DIR/ca.crt, to give to every node (--ca), and DIR/ca.key
(mode 0600), to keep secret: whoever holds it can admit nodes to the realm.
Existing files are never replaced: losing a CA key means reissuing every
certificate of the realm.`,
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
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			certPath, keyPath := filepath.Join(out, caCertFile), filepath.Join(out, caKeyFile)
			if err := security.SaveCA(certPath, keyPath, ca); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s already holds a CA: not replacing it", out)
				}
				return err
			}
			info, err := inspectFile(certPath)
			if err != nil {
				return err
			}
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
	return cmd
}

func (a *app) certIssueCommand() *cobra.Command {
	var caDir, realm, identity, out string
	var roles []string
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a node certificate from a realm CA",
		Long: `Issue a certificate for the node whose key is in --identity (created if
missing), signed by the CA in --ca (a directory holding ca.crt and ca.key,
as written by cert ca). It writes DIR/node.crt, replacing an older one: that
is how a certificate is renewed. --roles are stored in the certificate for
ACL rules. The node then starts with
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
			ca, err := security.LoadCA(filepath.Join(caDir, caCertFile), filepath.Join(caDir, caKeyFile))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("--ca %s: no CA there (make one with macula cert ca)", caDir)
				}
				return fmt.Errorf("--ca %s: %w", caDir, err)
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
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			certPath := filepath.Join(out, nodeCertFile)
			if err := security.SaveCertificate(certPath, der); err != nil {
				return err
			}
			info, err := inspectFile(certPath)
			if err != nil {
				return err
			}
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
			info, err := inspectFile(args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(info)
			}
			return writeCertInfo(a, info)
		},
	}
}

// certInfo describes a certificate, for cert show --json.
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
}

// Kinds of certificates.
const (
	kindCA   = "realm-ca"
	kindNode = "node"
)

// inspectFile describes the certificate in a file (PEM or DER) with
// security.InspectCertificate.
func inspectFile(path string) (certInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return certInfo{}, fmt.Errorf("bad certificate file: %w", err)
	}
	ci, err := security.InspectCertificate(data)
	if err != nil {
		if b, _ := pem.Decode(data); b != nil && strings.Contains(b.Type, "PRIVATE KEY") {
			return certInfo{}, fmt.Errorf("bad certificate file %s: %w: it holds a private key, not a certificate", path, security.ErrInvalidCertificate)
		}
		return certInfo{}, fmt.Errorf("bad certificate file %s: %w", path, err)
	}
	info := certInfo{
		File:       path,
		Kind:       kindNode,
		Realm:      ci.Realm,
		Roles:      ci.Roles,
		NotBefore:  ci.NotBefore,
		NotAfter:   ci.NotAfter,
		Status:     "valid",
		Issuer:     ci.Issuer,
		SelfSigned: ci.SelfSigned,
		Serial:     ci.SerialNumber,
		SHA256:     ci.Fingerprint,
	}
	if info.Roles == nil {
		info.Roles = []string{}
	}
	if now := time.Now(); !ci.ValidAt(now) {
		info.Status = "expired"
		if now.Before(ci.NotBefore) {
			info.Status = "not yet valid"
		}
	}
	if ci.IsCA {
		info.Kind = kindCA
	} else {
		id := ci.NodeID
		info.NodeID = &id
	}
	return info, nil
}

// writeCertInfo prints a certificate's description as name/value lines.
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
	return t.flush()
}
