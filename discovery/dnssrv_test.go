package discovery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// testZone is a DNS zone served by a real miekg/dns server: SRV, A and
// AAAA records by lower-case name.
type testZone struct {
	srv  map[string][]*dns.SRV
	a    map[string][]string
	aaaa map[string][]string
	// glue puts the targets' A and AAAA records in the additional section
	// of SRV answers (for the targets listed, or all if nil).
	glue     bool
	glueOnly map[string]bool
	// truncateUDP answers every query over UDP with an empty truncated
	// message, so the client must ask again over TCP.
	truncateUDP bool
	// extra records added to every SRV answer's additional section.
	extra []dns.RR
	// rcode, when not zero, answers every query with it.
	rcode int

	mu    sync.Mutex
	asked []string // "<net> <TYPE> <name>"
}

func (z *testZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := w.LocalAddr().Network()
	z.mu.Lock()
	z.asked = append(z.asked, fmt.Sprintf("%s %s %s", network, dns.TypeToString[q.Qtype], name))
	z.mu.Unlock()
	switch {
	case z.rcode != 0:
		m.Rcode = z.rcode
	case z.truncateUDP && network == "udp":
		m.Truncated = true
	default:
		z.answer(m, q.Qtype, name)
	}
	_ = w.WriteMsg(m)
}

// answer fills m for a question of type qtype about name.
func (z *testZone) answer(m *dns.Msg, qtype uint16, name string) {
	known := len(z.srv[name]) > 0 || len(z.a[name]) > 0 || len(z.aaaa[name]) > 0
	if !known {
		m.Rcode = dns.RcodeNameError
		return
	}
	switch qtype {
	case dns.TypeSRV:
		for _, rr := range z.srv[name] {
			m.Answer = append(m.Answer, rr)
			if z.glue && (z.glueOnly == nil || z.glueOnly[rr.Target]) {
				m.Extra = append(m.Extra, z.addrRecords(dns.TypeA, rr.Target)...)
				m.Extra = append(m.Extra, z.addrRecords(dns.TypeAAAA, rr.Target)...)
			}
		}
		m.Extra = append(m.Extra, z.extra...)
	case dns.TypeA, dns.TypeAAAA:
		m.Answer = z.addrRecords(qtype, name)
	}
}

func (z *testZone) addrRecords(qtype uint16, name string) []dns.RR {
	var out []dns.RR
	hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET, Ttl: 60}
	if qtype == dns.TypeA {
		for _, ip := range z.a[name] {
			out = append(out, &dns.A{Hdr: hdr, A: net.ParseIP(ip)})
		}
	} else {
		for _, ip := range z.aaaa[name] {
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(ip)})
		}
	}
	return out
}

func (z *testZone) queries() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.asked...)
}

func srvRR(name, target string, port uint16) *dns.SRV {
	return &dns.SRV{
		Hdr:      dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60},
		Priority: 10, Weight: 5, Port: port, Target: target,
	}
}

// startDNSServer serves h over UDP and TCP on the same 127.0.0.1 port and
// returns its address; the servers stop when the test ends.
func startDNSServer(t *testing.T, h dns.Handler) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 { // the TCP port may be taken; try another
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	require.NoError(t, err)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		done := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			defer close(done)
			_ = srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-done
		})
	}
	return pc.LocalAddr().String()
}

// exampleZone has two targets, one with IPv4 and IPv6 addresses.
func exampleZone() *testZone {
	const name = "_macula._udp.example.org."
	return &testZone{
		srv: map[string][]*dns.SRV{name: {
			srvRR(name, "node1.example.org.", 4433),
			srvRR(name, "node2.example.org.", 4434),
		}},
		a:    map[string][]string{"node1.example.org.": {"10.0.0.1"}, "node2.example.org.": {"10.0.0.2"}},
		aaaa: map[string][]string{"node1.example.org.": {"2001:db8::1"}},
	}
}

var exampleAddrs = []string{"10.0.0.1:4433", "[2001:db8::1]:4433", "10.0.0.2:4434"}

func discoverSRV(t *testing.T, server string, name string, timeout time.Duration) ([]string, error) {
	t.Helper()
	src, err := DNSSRV(DNSSRVConfig{Name: name, Server: server, Timeout: timeout})
	require.NoError(t, err)
	return src.Discover(context.Background())
}

func TestDNSSRVWithAdditionalRecords(t *testing.T) {
	z := exampleZone()
	z.glue = true
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, "_macula._udp.example.org.", 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
	require.Equal(t, []string{"udp SRV _macula._udp.example.org."}, z.queries(),
		"the additional section spares the address queries")
}

func TestDNSSRVAddressQueries(t *testing.T) {
	z := exampleZone()
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, "_macula._udp.example.org.", 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
	require.ElementsMatch(t, []string{
		"udp SRV _macula._udp.example.org.",
		"udp A node1.example.org.", "udp AAAA node1.example.org.",
		"udp A node2.example.org.", "udp AAAA node2.example.org.",
	}, z.queries())
}

func TestDNSSRVPartialAdditionalRecords(t *testing.T) {
	z := exampleZone()
	z.glue = true
	z.glueOnly = map[string]bool{"node2.example.org.": true}
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, "_macula._udp.example.org.", 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
	require.ElementsMatch(t, []string{
		"udp SRV _macula._udp.example.org.",
		"udp A node1.example.org.", "udp AAAA node1.example.org.",
	}, z.queries())
}

func TestDNSSRVOverTCP(t *testing.T) {
	z := exampleZone()
	z.glue = true
	z.truncateUDP = true
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, "_macula._udp.example.org.", 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
	require.Equal(t, []string{"udp SRV _macula._udp.example.org.", "tcp SRV _macula._udp.example.org."}, z.queries(),
		"the truncated answer is retried over TCP, whose additional section is used")
}

func TestDNSSRVIgnoresUnrelatedAdditionalRecords(t *testing.T) {
	z := exampleZone()
	z.glue = true
	z.glueOnly = map[string]bool{}
	z.extra = []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: "node1.example.org.", Rrtype: dns.TypeA, Class: dns.ClassCHAOS, Ttl: 60},
		A:   net.ParseIP("192.0.2.66"),
	}, &dns.A{
		Hdr: dns.RR_Header{Name: "evil.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A:   net.ParseIP("192.0.2.66"),
	}}
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, "_macula._udp.example.org.", 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
}

func TestDNSSRVServiceNotOffered(t *testing.T) {
	const name = "_macula._udp.example.org."
	z := &testZone{srv: map[string][]*dns.SRV{name: {srvRR(name, ".", 0)}}}
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, name, 0)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestDNSSRVFailures(t *testing.T) {
	const name = "_macula._udp.example.org."
	for _, tc := range []struct {
		desc string
		zone *testZone
	}{
		{"SERVFAIL", &testZone{rcode: dns.RcodeServerFailure}},
		{"REFUSED", &testZone{rcode: dns.RcodeRefused}},
		{"no such name", &testZone{}},
		{"target without address", &testZone{
			srv: map[string][]*dns.SRV{name: {srvRR(name, "gone.example.org.", 4433)}},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			addr := startDNSServer(t, tc.zone)
			_, err := discoverSRV(t, addr, name, 0)
			require.ErrorIs(t, err, ErrSourceFailed)
			require.ErrorContains(t, err, "dns-srv:"+name)
		})
	}
}

func TestDNSSRVMalformedTargetsAreDropped(t *testing.T) {
	const name = "_macula._udp.example.org."
	z := exampleZone()
	z.srv[name] = append(z.srv[name], srvRR(name, "bad\\032target.example.org.", 4435))
	addr := startDNSServer(t, z)
	got, err := discoverSRV(t, addr, name, 0)
	require.NoError(t, err)
	require.ElementsMatch(t, exampleAddrs, got)
}

// startGarbageServer answers every UDP datagram with junk made by reply.
func startGarbageServer(t *testing.T, reply func(query []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(reply(buf[:n]), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

func TestDNSSRVGarbageAnswers(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		reply func(q []byte) []byte
	}{
		{"random bytes", func([]byte) []byte { return []byte("\x13\x37 this is not DNS at all") }},
		{"empty", func([]byte) []byte { return nil }},
		{"right ID, cut short", func(q []byte) []byte {
			return append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 1}, 0xff, 0xff)
		}},
		{"right ID and question, junk answer", func(q []byte) []byte {
			var m dns.Msg
			if m.Unpack(q) != nil {
				return nil
			}
			m.Response = true
			b, _ := m.Pack()
			b[7] = 1 // one answer record, which is junk
			return append(b, 0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x40, 1, 2, 3)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			addr := startGarbageServer(t, tc.reply)
			start := time.Now()
			_, err := discoverSRV(t, addr, "_macula._udp.example.org.", 300*time.Millisecond)
			require.ErrorIs(t, err, ErrSourceFailed)
			require.Less(t, time.Since(start), 5*time.Second, "the timeout bounds Discover")
		})
	}
}

func TestDNSSRVServerDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().String()
	require.NoError(t, pc.Close())
	_, err = discoverSRV(t, addr, "_macula._udp.example.org.", 500*time.Millisecond)
	require.ErrorIs(t, err, ErrSourceFailed)
}

func TestDNSSRVContextCancelled(t *testing.T) {
	addr := startGarbageServer(t, func([]byte) []byte { return nil })
	src, err := DNSSRV(DNSSRVConfig{Name: "_macula._udp.example.org.", Server: addr, Timeout: time.Minute})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = src.Discover(ctx)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestDNSSRVConfig(t *testing.T) {
	src, err := DNSSRV(DNSSRVConfig{Name: "_macula._udp.example.org."})
	require.NoError(t, err)
	require.Equal(t, "dns-srv:_macula._udp.example.org.", src.Name())
	require.Equal(t, DefaultDNSTimeout, src.(*dnsSRVSource).timeout)
	require.Equal(t, 2*time.Second, DefaultDNSTimeout)

	for name, cfg := range map[string]DNSSRVConfig{
		"no name":          {},
		"bad name":         {Name: "a..b"},
		"long name":        {Name: strings.Repeat("a.", 130)},
		"server no port":   {Name: "x.org.", Server: "127.0.0.1"},
		"server bad port":  {Name: "x.org.", Server: "127.0.0.1:dns"},
		"server zero port": {Name: "x.org.", Server: "127.0.0.1:0"},
		"server no host":   {Name: "x.org.", Server: ":53"},
		"negative timeout": {Name: "x.org.", Timeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DNSSRV(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

// srvAnswer packs an SRV answer to query q with the given extra records.
func srvAnswer(t testing.TB, q *dns.Msg, answer, extra []dns.RR) []byte {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = answer
	m.Extra = extra
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

func TestSnoopMatchesOnlyOurQueries(t *testing.T) {
	const name = "_macula._udp.example.org."
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSRV)
	qb, err := q.Pack()
	require.NoError(t, err)
	answer := []dns.RR{srvRR(name, "node1.example.org.", 4433)}
	extra := []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "NODE1.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP("10.0.0.1")}}

	c := &snoopConn{glue: &glue{}, queries: map[uint16]dns.Question{}}
	other := q.Copy()
	other.Id = q.Id + 1
	c.noteAnswer(srvAnswer(t, other, answer, extra)) // before any query
	c.noteQuery(qb)
	c.noteAnswer(srvAnswer(t, other, answer, extra)) // wrong ID
	c.noteAnswer(qb)                                 // not a response
	wrongQ := q.Copy()
	wrongQ.Question[0].Name = "_other._udp.example.org."
	c.noteAnswer(srvAnswer(t, wrongQ, answer, extra)) // wrong question
	require.Empty(t, c.glue.addrs("node1.example.org."))

	c.noteAnswer(srvAnswer(t, q, answer, extra))
	require.Len(t, c.glue.addrs("node1.example.org."), 1)
	require.Equal(t, "10.0.0.1", c.glue.addrs("node1.example.org.")[0].String())
}

func TestEachFrame(t *testing.T) {
	var got []string
	f := func(b []byte) { got = append(got, string(b)) }
	rest := eachFrame([]byte{0, 2, 'a', 'b', 0, 1, 'c', 0, 3, 'd'}, f)
	require.Equal(t, []string{"ab", "c"}, got)
	require.Equal(t, []byte{0, 3, 'd'}, rest)
	rest = eachFrame(append(rest, 'e', 'f'), f)
	require.Equal(t, []string{"ab", "c", "def"}, got)
	require.Nil(t, rest)
	require.Equal(t, []byte{0}, eachFrame([]byte{0}, f))
}

// FuzzDNSAnswer feeds arbitrary bytes, as if read from a DNS server, to the
// code that reads additional records off the wire.
func FuzzDNSAnswer(f *testing.F) {
	const name = "_macula._udp.example.org."
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSRV)
	f.Add(srvAnswer(f, q, []dns.RR{srvRR(name, "node1.example.org.", 4433)},
		[]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "node1.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP("10.0.0.1")},
			&dns.AAAA{Hdr: dns.RR_Header{Name: "node1.example.org.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET}, AAAA: net.ParseIP("2001:db8::1")}}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0x81, 0x80})
	qb, err := q.Pack()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &snoopConn{glue: &glue{}, queries: map[uint16]dns.Question{}}
		c.noteQuery(qb)
		if len(b) >= 2 {
			// Give the answer our query's ID, so it reaches the parser of
			// the additional section.
			b[0], b[1] = byte(q.Id>>8), byte(q.Id)
		}
		c.noteAnswer(b)
		c.stream = true
		c.rbuf = eachFrame(append([]byte{byte(len(b) >> 8), byte(len(b))}, b...), c.noteAnswer)
		for _, ips := range c.glue.m {
			for _, ip := range ips {
				require.True(t, usableIP(ip), "%v", ip)
			}
		}
	})
}
