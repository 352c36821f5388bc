package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/org/macula/cmd/macula/internal/admin"
)

// adminEnv names the environment variable that sets the default of
// --admin.
const adminEnv = "MACULA_ADMIN"

// app holds what every command shares: the I/O streams and global flags.
type app struct {
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	stopSignals func()

	adminAddr string // --admin
	jsonOut   bool   // --json
}

// rootCommand builds the whole command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "macula",
		Short: "Run and inspect Macula mesh nodes",
		Long: `macula runs a node of a Macula mesh (macula start) and drives a running node
through its local admin API: look at the mesh (members, peers, topology,
routes, stats), send test traffic (ping, publish, subscribe, call), join
other nodes and rotate the realm's gossip keys (keyring). macula cert makes
realm CAs and node certificates.

The client commands reach the node at --admin (default $` + adminEnv + ` or
` + admin.DefaultAddr + `). Output is a table by default and JSON with --json.
The exit code is 0 on success, 1 on an error, 2 for a wrong command line.`,
		Example: `  macula start --listen 127.0.0.1:4433 --identity node.key
  macula members --admin 127.0.0.1:4480`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		},
	}
	defAdmin := admin.DefaultAddr
	if v := os.Getenv(adminEnv); v != "" {
		defAdmin = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.adminAddr, "admin", defAdmin, "admin API address: 127.0.0.1:PORT or a unix socket path (env "+adminEnv+")")
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON instead of tables")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetHelpCommand(helpCommand())

	root.AddCommand(
		a.startCommand(),
		a.joinCommand(),
		a.membersCommand(),
		a.peersCommand(),
		a.topologyCommand(),
		a.routesCommand(),
		a.statsCommand(),
		a.pingCommand(),
		a.publishCommand(),
		a.subscribeCommand(),
		a.callCommand(),
		a.keyringCommand(),
		a.certCommand(),
		a.versionCommand(),
		completionCommand(),
	)
	return root
}

// unknownCommand is the error for a command name that is not one of cmd's
// subcommands, with cobra's suggestions on the same line.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", strings.Join(s, `" or "`))
	}
	return &usageError{fmt.Errorf("%s", msg)}
}

// groupRunE is the RunE of a command that only groups subcommands: help
// without arguments, an unknown-command error otherwise.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return unknownCommand(cmd, args[0])
}

// exactArgs is cobra.ExactArgs with a usage error naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("want %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs with a usage error naming the arguments.
func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageErrorf("want %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

// helpCommand replaces cobra's help command, to give it an example and a
// one-line error for unknown topics.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  macula help cert issue",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || target == nil {
				return usageErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			if len(rest) > 0 && target.HasSubCommands() {
				return unknownCommand(target, rest[0])
			}
			return target.Help()
		},
	}
}

// completionCommand prints shell completion scripts.
func completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Print a shell completion script",
		Example:   "  source <(macula completion bash)",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      exactArgs(1, "a shell name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usageErrorf("unknown shell %q: want bash, zsh, fish or powershell", args[0])
		},
	}
}

// client returns a client of the admin API at --admin.
func (a *app) client() (*admin.Client, error) {
	addr, err := admin.ParseAddr(a.adminAddr)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--admin: %w", err)}
	}
	return admin.NewClient(addr), nil
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
