package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// ErrUnreachable means the admin API could not be reached: no node is
// serving it at the address.
var ErrUnreachable = errors.New("cannot reach the admin API")

// Client talks to the admin API of a running node.
type Client struct {
	addr Addr
	base string
	http *http.Client
}

// NewClient returns a client for the API at addr.
func NewClient(addr Addr) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, addr.Network, addr.Address)
		},
		DisableKeepAlives: true,
	}
	base := "http://" + addr.Address
	if addr.Network == "unix" {
		base = "http://macula-admin"
	}
	return &Client{addr: addr, base: base, http: &http.Client{Transport: tr}}
}

// Node describes the node.
func (c *Client) Node(ctx context.Context) (NodeInfo, error) {
	var out NodeInfo
	return out, c.do(ctx, http.MethodGet, "/v1/node", nil, &out)
}

// Members lists the members the node knows of.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, http.MethodGet, "/v1/members", nil, &out)
}

// Peers lists the node's connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	return out, c.do(ctx, http.MethodGet, "/v1/peers", nil, &out)
}

// Topology returns the overlay as the node sees it.
func (c *Client) Topology(ctx context.Context) (Topology, error) {
	var out Topology
	return out, c.do(ctx, http.MethodGet, "/v1/topology", nil, &out)
}

// Routes returns the node's DHT routing table.
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var out []Route
	return out, c.do(ctx, http.MethodGet, "/v1/routes", nil, &out)
}

// Stats returns the node's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	return out, c.do(ctx, http.MethodGet, "/v1/stats", nil, &out)
}

// Ping has the node ping another.
func (c *Client) Ping(ctx context.Context, node string) (PingReply, error) {
	var out PingReply
	return out, c.do(ctx, http.MethodPost, "/v1/ping", PingRequest{Node: node}, &out)
}

// Join has the node join the mesh through addrs.
func (c *Client) Join(ctx context.Context, addrs ...string) error {
	return c.do(ctx, http.MethodPost, "/v1/join", JoinRequest{Addrs: addrs}, nil)
}

// Publish has the node publish an event.
func (c *Client) Publish(ctx context.Context, req PublishRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/publish", req, nil)
}

// Call has the node call a procedure.
func (c *Client) Call(ctx context.Context, req CallRequest) (CallReply, error) {
	var out CallReply
	return out, c.do(ctx, http.MethodPost, "/v1/call", req, &out)
}

// Keyring returns the node's gossip keyring, with the keys themselves
// only when withKeys is set.
func (c *Client) Keyring(ctx context.Context, withKeys bool) (Keyring, error) {
	var out Keyring
	path := "/v1/keyring"
	if withKeys {
		path += "?keys=true"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// InstallKey has the node install a gossip key (base64) and returns the
// keyring after the change.
func (c *Client) InstallKey(ctx context.Context, key string) (Keyring, error) {
	var out Keyring
	return out, c.do(ctx, http.MethodPost, "/v1/keyring/install", KeyRequest{Key: key}, &out)
}

// UseKey has the node make an installed gossip key (base64) the primary
// and returns the keyring after the change.
func (c *Client) UseKey(ctx context.Context, key string) (Keyring, error) {
	var out Keyring
	return out, c.do(ctx, http.MethodPost, "/v1/keyring/use", KeyRequest{Key: key}, &out)
}

// RemoveKey has the node remove a gossip key (base64) and returns the
// keyring after the change.
func (c *Client) RemoveKey(ctx context.Context, key string) (Keyring, error) {
	var out Keyring
	return out, c.do(ctx, http.MethodPost, "/v1/keyring/remove", KeyRequest{Key: key}, &out)
}

// Subscribe subscribes the node to pattern and calls fn with each message
// of the stream, the StreamSubscribed one first, until ctx ends (then it
// returns nil), fn returns an error (returned), or the stream breaks.
func (c *Client) Subscribe(ctx context.Context, pattern string, fn func(StreamMessage) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/subscribe?pattern="+url.QueryEscape(pattern), nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxBody*2)
	for sc.Scan() {
		var m StreamMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("admin API: malformed stream message: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("admin API: subscription stream: %w", err)
	}
	return errors.New("admin API: the node ended the subscription stream (node stopped?)")
}

// do sends a request with a JSON body (when in is not nil) and decodes a
// JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API at %s: malformed answer: %w", c.addr, err)
	}
	return nil
}

// send sends req and turns a failed connection and error answers into
// errors: *Error for the API's own, ErrUnreachable when nothing answers.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			cause := err
			var errno syscall.Errno
			if errors.As(err, &errno) {
				cause = errno
			}
			return nil, fmt.Errorf("%w at %s: is `macula start` running? (%w)", ErrUnreachable, c.addr, cause)
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("admin API at %s: %w", c.addr, ctxErr)
		}
		return nil, fmt.Errorf("admin API at %s: %w", c.addr, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var apiErr Error
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&apiErr); err != nil || apiErr.Message == "" {
		return nil, fmt.Errorf("admin API at %s: unexpected answer %s", c.addr, resp.Status)
	}
	return nil, &apiErr
}
