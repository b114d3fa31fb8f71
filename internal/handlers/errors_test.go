package handlers

import (
	"bytes"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// A full disk and a damaged batch are KAFKA_STORAGE_ERROR (retriable),
// never UNKNOWN_SERVER_ERROR, and are not logged again per request (the
// log reported them once).
func TestHandlersStorageErrorsAreRetriable(t *testing.T) {
	ffs := storagetest.NewFaultFS(storage.OS)
	l, err := storage.Open(ffs, t.TempDir(), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ffs.InjectError(storagetest.OpWrite, "*.log", 1, syscall.ENOSPC)
	_, noSpace := l.Append(recordtest.Simple(2, time.Now().UnixMilli()).Encode())
	damaged := fmt.Errorf("%w: %w: offsets [2, 4)", storage.ErrStorage, storage.ErrDamaged)
	var logs bytes.Buffer
	h := &Handlers{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, err := range []error{noSpace, damaged} {
		if code := h.errorCode(err); code != kerr.KafkaStorageError.Code {
			t.Fatalf("%v: code %d, want KAFKA_STORAGE_ERROR", err, code)
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("logged per request: %s", logs.String())
	}
}
