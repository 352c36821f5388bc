package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

// roles says which members publish, subscribe, provide and call.
type roles struct {
	nodes     int
	pubs      []int
	subs      []int
	providers []int
	callers   []int
}

// defaultRoles: six nodes, two publishers, three subscribers, three
// providers, three callers; every role shares a node with another, so a
// crash hits two at once.
var defaultRoles = roles{
	nodes:     6,
	pubs:      []int{0, 1},
	subs:      []int{2, 3, 4},
	providers: []int{3, 4, 5},
	callers:   []int{0, 1, 2},
}

const (
	// eventTopic is the prefix of the events' topics: publisher p
	// publishes on chaos.ev.<p>, and subscribers take chaos.ev.*.
	eventTopic   = "chaos.ev"
	eventPattern = "chaos.ev.*"
	procedure    = "chaos.work"

	// publishEvery and callEvery pace the workload (per publisher and per
	// caller): 10 events and 5 calls a second each.
	publishEvery = 100 * time.Millisecond
	callEvery    = 200 * time.Millisecond
	// opTimeout bounds each Publish and each Call.
	opTimeout = 30 * time.Second
	// handlerWork is how long a provider works on a call, so that
	// crashes land in the middle of calls.
	handlerWork = 100 * time.Millisecond
	// grace is how long a subscription record, a registration or a
	// membership change is given to reach the others' directory caches
	// before the invariants count on it (a DHT watch pushes a change in
	// one round trip; the node applies a membership change on its own
	// goroutine at once).
	grace = 2 * time.Second
	// memberBound and recordBound bound the time from the last heal to
	// one membership view (every running member sees every other alive),
	// and to every publisher reaching every subscriber and every caller
	// every provider again (records visible and followed).
	memberBound = time.Minute
	recordBound = time.Minute
	// maxLoss is the loss rate up to which no live node may be declared
	// dead.
	maxLoss = 0.10
)

// faultKind is the kind of a fault span.
type faultKind int

const (
	faultPartition faultKind = iota // the mesh is cut (slot -1)
	faultLoss                       // packets are lost at random (slot -1)
	faultPause                      // the member is paused
	faultSlow                       // the packets to the member are slow
	faultDown                       // the member is killed or stopped
)

func (k faultKind) String() string {
	return [...]string{"partition", "loss", "pause", "slow", "down"}[k]
}

// span is one fault, from its start to its end (zero while it lasts).
type span struct {
	kind     faultKind
	slot     int // -1 for the whole mesh
	from, to time.Time
	loss     float64
}

// instance is one life of a member: from a start or restart to its kill
// or stop.
type instance struct {
	slot, life int
	node       *macula.Node
	start      time.Time

	// Guarded by world.mu.
	end          time.Time
	subscribedAt time.Time // when Subscribe returned nil; zero before
	registeredAt time.Time // when Register returned nil; zero before
	deliveries   []delivery
}

// delivery is one call of a subscriber's handler.
type delivery struct {
	pub, k    int
	seq       uint64
	publisher macula.NodeID
	sent      time.Time // the publisher's clock: the bubble's, as ours
	at        time.Time
}

// payload is what the publishers publish.
type payload struct {
	P int `json:"p"`
	K int `json:"k"`
}

// publishRec is one Publish and its outcome.
type publishRec struct {
	pub, pubLife, k int
	start, end      time.Time
	err             error
}

// callRec is one Call and its outcome.
type callRec struct {
	caller, callerLife, k int
	start, end            time.Time
	err                   error
	provider              int  // the member that answered; -1 if none
	wrong                 bool // the answer was not the procedure's
}

// memberRec is one membership event seen by one life of a member.
type memberRec struct {
	obs, obsLife, subj int
	typ                macula.MemberEventType
	at                 time.Time
}

// recordRec is a subscription attempt of a subscriber: a success stores
// its record, a failure may remove it.
type recordRec struct {
	at time.Time
	ok bool
}

// world is a mesh with its workload and everything they recorded. The
// fault methods are for the scenario's goroutine; the workload runs on
// goroutines of its own until stopWorkload.
type world struct {
	t     *testing.T
	m     *meshtest.Mesh
	roles roles
	ids   map[macula.NodeID]int
	start time.Time

	mu       sync.Mutex
	lives    [][]*instance
	spans    []span
	records  [][]recordRec
	pubs     []publishRec
	calls    []callRec
	members  []memberRec
	invoked  int
	timeline []string

	stop     chan struct{}
	workload sync.WaitGroup // the publishers and callers
	ops      sync.WaitGroup // their Publish and Call goroutines
	setup    sync.WaitGroup // the subscribe, register and join goroutines
}

// newWorld starts the mesh (inside the caller's synctest bubble) with the
// given seed (0: meshtest's default, MESHTEST_SEED or a random one), waits
// until it has converged and every subscription and registration is in
// place, and starts the workload.
func newWorld(t *testing.T, r roles, seed uint64) *world {
	t.Helper()
	w := &world{
		t:       t,
		roles:   r,
		ids:     make(map[macula.NodeID]int),
		lives:   make([][]*instance, r.nodes),
		records: make([][]recordRec, r.nodes),
		stop:    make(chan struct{}),
	}
	opts := []meshtest.Option{meshtest.WithBootstrapTo(0)}
	if seed != 0 { // else meshtest's: MESHTEST_SEED's, or a random one
		opts = append(opts, meshtest.WithSeed(seed))
	}
	w.m = meshtest.New(t, r.nodes, opts...)
	w.start = time.Now()
	for i := range r.nodes {
		w.ids[w.m.Member(i).Identity.ID()] = i
	}
	// Stopping the workload before the mesh closes (cleanups run last
	// first): a scenario that failed half-way still ends its goroutines.
	t.Cleanup(w.stopWorkload)
	for i := range r.nodes {
		w.boot(i, w.m.Node(i), false)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := w.m.WaitConverged(ctx); err != nil {
		t.Fatalf("chaos: the mesh did not converge at the start: %v", err)
	}
	if !w.m.WaitFor(time.Minute, w.ready) {
		t.Fatal("chaos: subscriptions and registrations not in place after a minute")
	}
	time.Sleep(grace)
	w.note("mesh of %d converged; workload starts", r.nodes)
	for _, p := range r.pubs {
		w.workload.Go(func() { w.publisher(p) })
	}
	for _, c := range r.callers {
		w.workload.Go(func() { w.caller(c) })
	}
	return w
}

// ready reports whether every subscriber's and provider's current life
// has subscribed and registered.
func (w *world) ready() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.roles.subs {
		if l := w.current(s); l == nil || l.subscribedAt.IsZero() {
			return false
		}
	}
	for _, p := range w.roles.providers {
		if l := w.current(p); l == nil || l.registeredAt.IsZero() {
			return false
		}
	}
	return true
}

// current returns slot's running life, or nil; w.mu must be held.
func (w *world) current(slot int) *instance {
	ls := w.lives[slot]
	if len(ls) == 0 || !ls[len(ls)-1].end.IsZero() {
		return nil
	}
	return ls[len(ls)-1]
}

// live returns slot's running life, or nil.
func (w *world) live(slot int) *instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current(slot)
}

// note adds a line to the scenario's timeline, logged at the end.
func (w *world) note(format string, args ...any) {
	line := fmt.Sprintf("%8.3fs  %s", time.Since(w.start).Seconds(), fmt.Sprintf(format, args...))
	w.mu.Lock()
	w.timeline = append(w.timeline, line)
	w.mu.Unlock()
}

// boot records a new life of slot on node and starts what that life
// runs: its membership watcher, and on goroutines of their own its join
// (after a restart), subscription and registration, retried until they
// succeed or the life ends.
func (w *world) boot(slot int, node *macula.Node, restarted bool) {
	life := &instance{slot: slot, node: node, start: time.Now()}
	w.mu.Lock()
	life.life = len(w.lives[slot])
	w.lives[slot] = append(w.lives[slot], life)
	w.mu.Unlock()
	w.watch(life)
	w.setup.Go(func() {
		if restarted {
			w.rejoin(life)
		}
		if slices.Contains(w.roles.subs, slot) {
			w.subscribe(life)
		}
		if slices.Contains(w.roles.providers, slot) {
			w.register(life)
		}
	})
}

// ended reports whether life was killed or stopped.
func (w *world) ended(life *instance) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !life.end.IsZero()
}

// retry runs op every second until it succeeds or life ends (its node
// closed).
func (w *world) retry(life *instance, op func(ctx context.Context) error) bool {
	for !w.ended(life) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := op(ctx)
		cancel()
		if err == nil {
			return true
		}
		if errors.Is(err, macula.ErrClosed) {
			return false
		}
		time.Sleep(time.Second)
	}
	return false
}

// rejoin joins a restarted life to another running member, as an
// operator's list of several bootstrap addresses would: the mesh's one
// bootstrap member may be down itself.
func (w *world) rejoin(life *instance) {
	w.retry(life, func(ctx context.Context) error {
		err := errors.New("no one to join")
		for i := range w.roles.nodes {
			if i != life.slot && w.live(i) != nil {
				if err = life.node.Join(ctx, w.m.Addr(i)); err == nil || errors.Is(err, macula.ErrClosed) {
					return err
				}
			}
		}
		return err
	})
}

// subscribe subscribes life to every publisher's events.
func (w *world) subscribe(life *instance) {
	handler := func(_ context.Context, ev *macula.Event) {
		var p payload
		if err := ev.Decode(&p); err != nil {
			panic(fmt.Sprintf("chaos: undecodable event: %v", err))
		}
		d := delivery{pub: p.P, k: p.K, seq: ev.Seq, publisher: ev.Publisher, sent: ev.Time, at: time.Now()}
		w.mu.Lock()
		life.deliveries = append(life.deliveries, d)
		w.mu.Unlock()
	}
	w.retry(life, func(ctx context.Context) error {
		_, err := life.node.Subscribe(ctx, eventPattern, handler)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.records[life.slot] = append(w.records[life.slot], recordRec{at: time.Now(), ok: err == nil})
		if err == nil {
			life.subscribedAt = time.Now()
		}
		return err
	})
}

// register serves the procedure on life: it works handlerWork, then
// returns 2k+1 for k.
func (w *world) register(life *instance) {
	h := func(ctx context.Context, inv *macula.Invocation) (any, error) {
		var k int
		if err := inv.Decode(&k); err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.invoked++
		w.mu.Unlock()
		select {
		case <-time.After(handlerWork):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return 2*k + 1, nil
	}
	w.retry(life, func(ctx context.Context) error {
		_, err := life.node.Register(ctx, procedure, h)
		if err == nil {
			w.mu.Lock()
			life.registeredAt = time.Now()
			w.mu.Unlock()
		}
		return err
	})
}

// watch records every membership event life's node sees, from now until
// it closes. The members it already sees alive count as joined now: they
// joined before the watch began.
func (w *world) watch(life *instance) {
	events := life.node.WatchMembers(context.Background())
	now := time.Now()
	w.mu.Lock()
	for _, mem := range life.node.Members() {
		if subj, ok := w.ids[mem.ID]; ok && subj != life.slot && mem.State == macula.MemberAlive {
			w.members = append(w.members, memberRec{obs: life.slot, obsLife: life.life, subj: subj, typ: macula.EventMemberJoined, at: now})
		}
	}
	w.mu.Unlock()
	w.setup.Go(func() {
		for ev := range events {
			subj, ok := w.ids[ev.Member.ID]
			if !ok || subj == life.slot {
				continue
			}
			w.mu.Lock()
			w.members = append(w.members, memberRec{obs: life.slot, obsLife: life.life, subj: subj, typ: ev.Type, at: time.Now()})
			w.mu.Unlock()
		}
	})
}

// publisher publishes event k = 0, 1, ... of member p every
// publishEvery, at least once, each Publish on a goroutine of its own, on
// whichever life of p is running.
func (w *world) publisher(p int) {
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		life := w.live(p)
		if life == nil {
			continue
		}
		w.ops.Go(func() {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			err := life.node.Publish(ctx, fmt.Sprintf("%s.%d", eventTopic, p), payload{P: p, K: k}, macula.WithQoS(macula.AtLeastOnce))
			cancel()
			w.mu.Lock()
			w.pubs = append(w.pubs, publishRec{pub: p, pubLife: life.life, k: k, start: start, end: time.Now(), err: err})
			w.mu.Unlock()
		})
	}
}

// caller calls the procedure from member c every callEvery, idempotent,
// round robin over the providers, with as many attempts as there are
// providers.
func (w *world) caller(c int) {
	tick := time.NewTicker(callEvery)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		life := w.live(c)
		if life == nil {
			continue
		}
		w.ops.Go(func() {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			rep, err := life.node.Call(ctx, procedure, k, macula.WithIdempotent(),
				macula.WithPolicy(macula.RoundRobin), macula.WithMaxAttempts(len(w.roles.providers)))
			cancel()
			rec := callRec{caller: c, callerLife: life.life, k: k, start: start, end: time.Now(), err: err, provider: -1}
			if err == nil {
				var got int
				rec.wrong = rep.Decode(&got) != nil || got != 2*k+1
				if slot, ok := w.ids[rep.Provider]; ok {
					rec.provider = slot
				}
			}
			w.mu.Lock()
			w.calls = append(w.calls, rec)
			w.mu.Unlock()
		})
	}
}

// stopWorkload stops the publishers and callers and waits for their last
// operations (each bounded by opTimeout) and the setup goroutines of
// lives that are still trying. It is idempotent.
func (w *world) stopWorkload() {
	select {
	case <-w.stop:
		return
	default:
	}
	close(w.stop)
	w.workload.Wait()
	w.ops.Wait()
}

// begin opens a fault span.
func (w *world) begin(kind faultKind, slot int, loss float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spans = append(w.spans, span{kind: kind, slot: slot, from: time.Now(), loss: loss})
}

// finish closes the open spans of kind on slot.
func (w *world) finish(kind faultKind, slot int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.spans {
		s := &w.spans[i]
		if s.kind == kind && s.slot == slot && s.to.IsZero() {
			s.to = time.Now()
		}
	}
}

// open reports whether a span of kind on slot is open.
func (w *world) open(kind faultKind, slot int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.spans {
		if s.kind == kind && s.slot == slot && s.to.IsZero() {
			return true
		}
	}
	return false
}

// partition cuts the mesh into groups (members in none form one more).
func (w *world) partition(groups ...[]int) {
	w.finish(faultPartition, -1)
	w.m.Partition(groups...)
	w.begin(faultPartition, -1, 0)
	w.note("partition %v", groups)
}

// heal removes the partition.
func (w *world) heal() {
	w.m.Heal()
	w.finish(faultPartition, -1)
	w.note("heal")
}

// setLoss sets the loss rate, 0 to end it.
func (w *world) setLoss(p float64) {
	w.m.SetLoss(p)
	w.finish(faultLoss, -1)
	if p > 0 {
		w.begin(faultLoss, -1, p)
	}
	w.note("loss %.0f%%", 100*p)
}

// kill crashes member i; its packets stop first, then its node closes.
func (w *world) kill(i int) {
	if w.live(i) == nil {
		return
	}
	w.begin(faultDown, i, 0)
	w.endLife(i)
	w.m.Kill(i)
	w.finish(faultPause, i)
	w.note("kill %d", i)
}

// stopNode closes member i gracefully.
func (w *world) stopNode(i int) {
	if w.live(i) == nil {
		return
	}
	w.begin(faultDown, i, 0)
	w.endLife(i)
	if err := w.m.Stop(i); err != nil {
		w.t.Errorf("chaos: stopping member %d: %v", i, err)
	}
	w.finish(faultPause, i)
	w.note("stop %d", i)
}

func (w *world) endLife(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.current(i); l != nil {
		l.end = time.Now()
	}
}

// restart starts member i again with its identity and address (killing
// it first if it runs); the new life rejoins, subscribes and registers
// by itself.
func (w *world) restart(i int) {
	if w.live(i) != nil {
		w.kill(i)
	}
	node, err := w.m.Restart(i)
	if err != nil {
		w.t.Fatalf("chaos: restarting member %d: %v", i, err)
	}
	w.finish(faultDown, i)
	w.boot(i, node, true)
	w.note("restart %d", i)
}

// pause silences member i as SIGSTOP would.
func (w *world) pause(i int) {
	if w.live(i) == nil || w.open(faultPause, i) {
		return
	}
	w.m.Pause(i)
	w.begin(faultPause, i, 0)
	w.note("pause %d", i)
}

// resume undoes pause.
func (w *world) resume(i int) {
	if !w.open(faultPause, i) {
		return
	}
	w.m.Resume(i)
	w.finish(faultPause, i)
	w.note("resume %d", i)
}

// slow gives the packets sent to member i a one-way latency of d; d < 0
// ends it.
func (w *world) slow(i int, d time.Duration) {
	w.m.SetMemberLatency(i, d)
	w.finish(faultSlow, i)
	if d >= 0 {
		w.begin(faultSlow, i, 0)
		w.note("slow %d: %v one way", i, d)
		return
	}
	w.note("slow %d ends", i)
}

// calm ends every fault: heals, ends loss and slowness, resumes paused
// members and restarts downed ones. It returns when it began.
func (w *world) calm() time.Time {
	at := time.Now()
	w.note("calm: every fault ends")
	w.m.Heal()
	w.m.SetLoss(0)
	w.finish(faultPartition, -1)
	w.finish(faultLoss, -1)
	for i := range w.roles.nodes {
		if w.open(faultSlow, i) {
			w.slow(i, -1)
		}
		w.resume(i)
		if w.live(i) == nil {
			w.restart(i)
		}
	}
	return at
}

// logTimeline logs the scenario's faults with their virtual times.
func (w *world) logTimeline() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("timeline (virtual seconds since the mesh started):\n%s", strings.Join(w.timeline, "\n"))
}
