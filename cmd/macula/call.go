package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/org/macula/cmd/macula/internal/admin"
)

func (a *app) callCommand() *cobra.Command {
	var node string
	var raw, verbose bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "call PROCEDURE [ARGS]",
		Short: "Call a procedure on the mesh",
		Long: `Call PROCEDURE from the running node and print the result: JSON indented,
text as is, other bytes as base64. The mesh picks a provider of the procedure
unless --node names one. ARGS follow the payload rule of publish: JSON if
they parse as JSON, bytes otherwise or with --raw, "-" for stdin; no ARGS
sends JSON null.

Every node serves the built-in procedure _peer.health (node ID, version,
uptime, realm); call it with --node to reach a given node.`,
		Example: `  macula call _peer.health --node 3f2a91c0
  macula call billing.charge '{"amount": 12}' --timeout 5s`,
		Args: rangeArgs(1, 2, "PROCEDURE and optional ARGS"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 || timeout > admin.MaxTimeout {
				return usageErrorf("--timeout %v: want more than 0 and at most %v", timeout, admin.MaxTimeout)
			}
			req := admin.CallRequest{Procedure: args[0], Node: node, TimeoutMillis: timeout.Milliseconds()}
			if len(args) == 2 {
				arg, err := a.argOrStdin(args[1])
				if err != nil {
					return err
				}
				req.Body = bodyFromArg(arg, raw)
			}
			return a.withClient(cmd, timeout+requestTimeout, func(ctx context.Context, c *admin.Client) error {
				reply, err := c.Call(ctx, req)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(reply)
				}
				_, err = io.WriteString(a.stdout, blockBody(reply.Body))
				if err == nil && verbose {
					_, err = fmt.Fprintf(a.stderr, "answered by %s (%s)\n", reply.Provider.Short(), reply.ContentType)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "call this node (ID or unique prefix) instead of any provider")
	cmd.Flags().BoolVar(&raw, "raw", false, "send ARGS as bytes even if they parse as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", admin.DefaultTimeout, "deadline of the call")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print which node answered (on stderr)")
	return cmd
}
