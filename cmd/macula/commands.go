package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/org/macula/cmd/macula/internal/admin"
	"github.com/org/macula/topic"
)

// requestTimeout bounds each admin request of the commands that take no
// --timeout.
const requestTimeout = 20 * time.Second

// withClient runs fn with a client of the admin API and a context bounded
// by timeout (none if 0).
func (a *app) withClient(cmd *cobra.Command, timeout time.Duration, fn func(context.Context, *admin.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return fn(ctx, c)
}

func (a *app) joinCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "join ADDR...",
		Short: "Connect the node to other nodes of the mesh",
		Long: `Connect the running node to the nodes at the given addresses, "host:port" or
macula://<realm>/<node-id>@host:port URIs (a URI also checks that the node
reached is that one). It succeeds as soon as one connection is up.`,
		Example: "  macula join 10.0.0.7:4433 macula://org.example.mesh/3f2a...c9@10.0.0.8:4433",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("want at least one ADDR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				if err := c.Join(ctx, args...); err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"joined": args})
				}
				_, err := fmt.Fprintln(a.stdout, "joined")
				return err
			})
		},
	}
}

func (a *app) membersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the members of the realm",
		Long: `List every member of the realm the node knows of, itself included (marked
*): alive and suspect (missed probes, declared dead unless it refutes in
time) members, and dead (crashed) or left (stopped gracefully) ones for a
while after they went. INCARNATION is the highest SWIM incarnation number
the node has seen for the member, which the member raises to refute a
suspicion of itself ("-" until one is seen).`,
		Example: "  macula members --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				ms, err := c.Members(ctx)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(ms)
				}
				return writeMembers(a.stdout, ms, time.Now())
			})
		},
	}
}

func (a *app) peersCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "peers",
		Short:   "List the node's connected peers",
		Long:    "List the peers the node has a QUIC connection to, with the connection's address, direction and round-trip time.",
		Example: "  macula peers",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				ps, err := c.Peers(ctx)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(ps)
				}
				return writePeers(a.stdout, ps, time.Now())
			})
		},
	}
}

func (a *app) topologyCommand() *cobra.Command {
	var dot bool
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the overlay graph",
		Long: `Show the overlay as the node sees it: every alive member and the long-lived
links each keeps. --dot prints Graphviz DOT, --json the graph with a
"connected" field.`,
		Example: "  macula topology --dot | dot -Tsvg > mesh.svg",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dot && a.jsonOut {
				return usageErrorf("--dot and --json exclude each other")
			}
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				t, err := c.Topology(ctx)
				if err != nil {
					return err
				}
				switch {
				case a.jsonOut:
					return a.printJSON(t)
				case dot:
					_, err := io.WriteString(a.stdout, graphOf(t).DOT())
					return err
				}
				return writeTopology(a.stdout, t)
			})
		},
	}
	cmd.Flags().BoolVar(&dot, "dot", false, "print Graphviz DOT")
	return cmd
}

func (a *app) routesCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "routes",
		Short:   "Show the DHT routing table",
		Long:    "Show the nodes in the node's Kademlia routing table, through which pub/sub and RPC find subscribers and providers.",
		Example: "  macula routes",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				rs, err := c.Routes(ctx)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(rs)
				}
				return writeRoutes(a.stdout, rs)
			})
		},
	}
}

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show the node's counters",
		Long: `Show the node's counters: messages in (received from other nodes) and out
(sent to them), drops, RPC calls made and served, gossip (membership)
packets sent, received, refused and dropped, peers, members and uptime.`,
		Example: "  macula stats --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, requestTimeout, func(ctx context.Context, c *admin.Client) error {
				st, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(st)
				}
				return writeStats(a.stdout, st)
			})
		},
	}
}

func (a *app) pingCommand() *cobra.Command {
	var count int
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "ping NODE",
		Short: "Measure the round-trip time to another node",
		Long: `Ping another node from the running node and print the round-trip time.
NODE is a node ID or a unique prefix of one, such as the 8 digits the
tables show. A member the node is not connected to is connected first.`,
		Example: "  macula ping 3f2a91c0 --count 3",
		Args:    exactArgs(1, "NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return usageErrorf("--count must be at least 1")
			}
			return a.withClient(cmd, 0, func(ctx context.Context, c *admin.Client) error {
				for i := range count {
					if i > 0 {
						select {
						case <-time.After(interval):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					rctx, cancel := context.WithTimeout(ctx, requestTimeout)
					r, err := c.Ping(rctx, args[0])
					cancel()
					if err != nil {
						return err
					}
					if a.jsonOut {
						b, _ := json.Marshal(r)
						_, err = fmt.Fprintf(a.stdout, "%s\n", b)
					} else {
						_, err = fmt.Fprintf(a.stdout, "reply from %s: rtt %s\n", r.Node.Short(), formatMillis(r.RTTMillis))
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&count, "count", "c", 1, "number of pings")
	cmd.Flags().DurationVarP(&interval, "interval", "i", time.Second, "time between pings")
	return cmd
}

func (a *app) publishCommand() *cobra.Command {
	var qos int
	var raw bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "publish TOPIC PAYLOAD",
		Short: "Publish an event on a topic",
		Long: `Publish PAYLOAD on TOPIC from the running node to every subscriber in the
realm. A PAYLOAD that parses as JSON (42, "text", {"c":21.5}) is sent as JSON
(application/json); anything else, or anything with --raw, is sent as its
bytes (application/octet-stream). "-" reads the payload from stdin.

With --qos 1 (at least once) publish waits until every subscriber node has
acknowledged the event, and fails naming those that did not within --timeout.`,
		Example: `  macula publish sensors.kitchen.temp '{"c": 21.5}' --qos 1`,
		Args:    exactArgs(2, "TOPIC and PAYLOAD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := args[0]
			if err := topic.Validate(t); err != nil {
				return err
			}
			if topic.IsReserved(t) {
				return fmt.Errorf("%w %q: topics starting with '_' are reserved for the mesh", topic.ErrInvalidTopic, t)
			}
			if qos != 0 && qos != 1 {
				return usageErrorf("--qos %d: want 0 (at most once) or 1 (at least once)", qos)
			}
			payload, err := a.argOrStdin(args[1])
			if err != nil {
				return err
			}
			req := admin.PublishRequest{Topic: t, Body: bodyFromArg(payload, raw), QoS: qos, TimeoutMillis: timeout.Milliseconds()}
			return a.withClient(cmd, timeout+requestTimeout, func(ctx context.Context, c *admin.Client) error {
				if err := c.Publish(ctx, req); err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"topic": t, "qos": qos})
				}
				_, err := fmt.Fprintf(a.stdout, "published on %s\n", t)
				return err
			})
		},
	}
	cmd.Flags().IntVar(&qos, "qos", 0, "0: at most once, 1: at least once (wait for acknowledgements)")
	cmd.Flags().BoolVar(&raw, "raw", false, "send PAYLOAD as bytes even if it parses as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", admin.DefaultTimeout, "how long --qos 1 waits for acknowledgements")
	return cmd
}

func (a *app) subscribeCommand() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "subscribe PATTERN",
		Short: "Print the events published on matching topics",
		Long: `Subscribe the running node to PATTERN and print each matching event as it
arrives, until interrupted (Ctrl-C, exit code 0) or, with --count, after that
many events. In a pattern "*" matches one segment and a final "#" one or
more. Each event is one line: time, topic, publisher and payload; with
--json, one JSON object per line.`,
		Example: "  macula subscribe 'sensors.*.temp'",
		Args:    exactArgs(1, "PATTERN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pattern := args[0]
			if err := topic.ValidatePattern(pattern); err != nil {
				return err
			}
			if count < 0 {
				return usageErrorf("--count must not be negative")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			seen := 0
			enc := json.NewEncoder(a.stdout)
			err = c.Subscribe(ctx, pattern, func(m admin.StreamMessage) error {
				switch {
				case m.Type == admin.StreamSubscribed:
					node := ""
					if m.Node != nil {
						node = " on node " + m.Node.Short()
					}
					fmt.Fprintf(a.stderr, "subscribed to %s%s; waiting for events (Ctrl-C to stop)\n", pattern, node)
				case m.Type == admin.StreamEvent && m.Event != nil:
					var err error
					if a.jsonOut {
						err = enc.Encode(m.Event)
					} else {
						err = writeEvent(a.stdout, m.Event)
					}
					if err != nil {
						return err
					}
					seen++
					if count > 0 && seen >= count {
						cancel()
					}
				}
				return nil
			})
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				// Interrupted or --count reached: a normal end.
				return nil
			}
			return err
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	return cmd
}

// argOrStdin returns arg, or stdin's contents when arg is "-".
func (a *app) argOrStdin(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, 16<<20))
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(b), nil
}
