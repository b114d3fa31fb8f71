package cluster

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/gregor-dev/gregor/internal/controller"
)

// fsm applies the metadata log to the image. Raft calls Apply, Snapshot and
// Restore from one goroutine; readers load the image without locks.
type fsm struct {
	image   atomic.Pointer[controller.Image]
	logger  *slog.Logger
	applied func(img *controller.Image) // runs after every change, in log order

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
}

func newFSM(logger *slog.Logger) *fsm {
	f := &fsm{logger: logger, changed: make(chan struct{})}
	f.image.Store(controller.NewImage())
	return f
}

// Changed returns a channel closed at the next image change.
func (f *fsm) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fsm) publish(img *controller.Image) {
	f.image.Store(img)
	if f.applied != nil {
		f.applied(img)
	}
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	recs, err := controller.DecodeEntry(l.Data)
	if err != nil {
		f.logger.Error("metadata log entry skipped", "index", l.Index, "err", err)
		return err
	}
	next, skipped := f.image.Load().Apply(l.Index, recs)
	for _, err := range skipped {
		f.logger.Warn("metadata record skipped", "index", l.Index, "err", err)
	}
	f.publish(next)
	return nil
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshot{f.image.Load()}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	img, err := controller.DecodeSnapshot(data)
	if err != nil {
		return err
	}
	f.logger.Info("metadata snapshot restored", "offset", img.Offset, "topics", len(img.Topics), "brokers", len(img.Brokers))
	f.publish(img)
	return nil
}

type snapshot struct{ img *controller.Image }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	data, err := controller.EncodeSnapshot(s.img)
	if err == nil {
		_, err = sink.Write(data)
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}
