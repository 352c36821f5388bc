// Package lifecycle gives every long-lived part of Macula one way to own
// its background goroutines: a [Group].
//
// The contract is the same in every package. [Group.Go] starts a goroutine
// unless stopping has begun, and says whether it did; [Group.Stop] begins
// stopping (no new goroutine is started from then on, and the group's
// [Group.Context] ends); [Group.Wait] returns once stopping has begun and
// every goroutine of the group has returned. [Group.Add] and [Group.Done]
// count work that runs on the caller's goroutine instead (a stream handler
// the transport already runs, say), so that Wait waits for it too.
//
// Why one type: before it, seven packages each had a goroutine helper
// with a contract of its own (one refused after close, one required the
// caller to hold a lock and could not refuse, one counted work that was
// not a goroutine), and the difference decided whether Close could race
// with a late start. A refused start is now an ordinary, checked outcome
// everywhere: the caller releases what it prepared for the goroutine and
// reports that the owner is closing.
//
// # Usage
//
//	type Service struct {
//		life lifecycle.Group
//	}
//
//	func (s *Service) serve(conn net.Conn) error {
//		if !s.life.Go(func() { s.handle(s.life.Context(), conn) }) {
//			_ = conn.Close()
//			return ErrClosed
//		}
//		return nil
//	}
//
//	func (s *Service) Close() error {
//		s.life.Stop()
//		s.life.Wait()
//		return nil
//	}
package lifecycle
