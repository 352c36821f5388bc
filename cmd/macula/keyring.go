package main

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/org/macula/cmd/macula/internal/admin"
	"github.com/org/macula/membership"
)

func (a *app) keyringCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "List, install, use and remove gossip keys",
		Long: `Manage the realm's gossip keys. Membership's SWIM packets travel as plain UDP
sealed with AES-GCM under the realm's primary gossip key; a node opens
packets sealed with any key of its keyring. Keyrings merge whenever two
nodes exchange membership state (over mutually authenticated QUIC), so a
change made on one node spreads to every member: installed keys, the
primary and removals alike.

KEY is 16, 24 or 32 bytes in standard base64; "-" reads it from stdin,
which keeps it out of the process list and shell history. Listings name
keys by fingerprint (the first 8 bytes of their SHA-256, in hex) and show
the keys themselves only with list --show-keys.

To rotate keys without losing packets:
  macula keyring generate           make a new key
  macula keyring install KEY        on one node; wait until every node lists it
  macula keyring use KEY            on one node: the realm seals with it
  macula keyring remove OLDKEY      once every node lists KEY as primary

State exchanges run about every 30 s with a random member, and at once with a
member whose packets a node could not open; macula join to a member runs
one at once.`,
		Example: `  macula keyring list
  KEY=$(macula keyring generate) && macula keyring install "$KEY"`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		a.keyringListCommand(),
		a.keyringChangeCommand("install", "Install a gossip key",
			`Install KEY on the running node: packets sealed with it open from now on,
here and, as keyrings merge, on every member. Installing a key that is
already installed changes nothing. Install a new key everywhere before
using it (see macula keyring --help).`,
			"  KEY=$(macula keyring generate)\n  macula keyring install \"$KEY\"",
			(*admin.Client).InstallKey),
		a.keyringChangeCommand("use", "Make an installed gossip key the primary",
			`Make KEY, which must be installed, the primary key of the running node: it
seals its packets with it from now on, and the choice spreads through the
realm, winning over older choices (a higher generation).`,
			"  macula keyring use \"$KEY\"",
			(*admin.Client).UseKey),
		a.keyringChangeCommand("remove", "Remove a gossip key",
			`Remove KEY from the running node's keyring; the removal spreads through the
realm, after which packets sealed with KEY are refused everywhere. The
primary key cannot be removed: use another one first.`,
			"  macula keyring remove \"$OLDKEY\"",
			(*admin.Client).RemoveKey),
		a.keyringGenerateCommand(),
	)
	return cmd
}

func (a *app) keyringListCommand() *cobra.Command {
	var showKeys bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the node's gossip keys and packet counters",
		Long: `List the gossip keys installed on the running node, the primary first
(marked *), by fingerprint; with --show-keys also the keys themselves, in the
base64 form install, use and remove take. Then the primary's generation and
the gossip packet counters: sent, received, refused (sealed with no key of
this node's keyring: a foreign or removed key, or noise) and dropped.`,
		Example: "  macula keyring list --show-keys --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				kr, err := c.Keyring(ctx, showKeys)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(kr)
				}
				return writeKeyring(a.stdout, kr)
			})
		},
	}
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "also print the keys themselves (secrets: anyone holding one can forge gossip)")
	return cmd
}

// keyringChangeCommand is install, use or remove: one KEY, sent to the
// node by change, which answers with the keyring after the change.
func (a *app) keyringChangeCommand(verb, short, long, example string, change func(*admin.Client, context.Context, string) (admin.Keyring, error)) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " KEY",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg, err := a.argOrStdin(args[0])
			if err != nil {
				return err
			}
			// Checked here too, so that a mistyped key is reported before
			// any node is asked, with the same message the node gives.
			key, err := admin.ParseGossipKey(arg)
			if err != nil {
				return err
			}
			encoded := base64.StdEncoding.EncodeToString(key)
			fp := admin.KeyFingerprint(key)
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				kr, err := change(c, ctx, encoded)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(kr)
				}
				var msg string
				switch verb {
				case "install":
					msg = fmt.Sprintf("installed gossip key %s (%s installed)", fp, keyCount(len(kr.Keys)))
				case "use":
					msg = fmt.Sprintf("gossip key %s is the primary (generation %d)", fp, kr.Generation)
				default:
					msg = fmt.Sprintf("removed gossip key %s (%s installed)", fp, keyCount(len(kr.Keys)))
				}
				_, err = fmt.Fprintln(a.stdout, msg)
				return err
			})
		},
	}
}

func (a *app) keyringGenerateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random gossip key",
		Long: `Print a new random 32-byte gossip key (AES-256) in base64, from the system's
cryptographic random source. It runs offline: no node is asked, nothing is
installed.`,
		Example: `  macula keyring generate`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			k := membership.RandomKey()
			key := base64.StdEncoding.EncodeToString(k)
			if a.jsonOut {
				return a.printJSON(map[string]string{"key": key, "fingerprint": admin.KeyFingerprint(k)})
			}
			_, err := fmt.Fprintln(a.stdout, key)
			return err
		},
	}
}
