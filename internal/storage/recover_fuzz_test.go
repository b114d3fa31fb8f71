package storage

import (
	"bytes"
	"fmt"
	"math"
	"path"
	"slices"
	"testing"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// FuzzStorageRecovery damages the files of a small, cleanly closed log
// (four segments of a dozen batches, with their indexes and checkpoints) by
// fuzzer-chosen byte flips, overwrites, truncations, garbage tails, deleted
// files and replaced checkpoints, with or without the clean-shutdown
// marker, then opens it on a storagetest.MemFS and checks what it serves.
//
// Always: Open and reads neither panic nor hang; whatever Read serves and
// passes its CRC carries, from the attributes field on (what the CRC
// covers), the bytes of a batch of the original log (nothing is made up);
// and a second Open, on what a power loss right after the first would
// leave, gives the same start offset, LEO, epochs, read errors and bytes
// (recovery made what it changed durable and does not change it again).
//
// Where recovery checks the data, more. Open rescans batch by batch (CRC,
// framing, offsets) only the segments it cannot trust: without the marker,
// the active one and those ending above the recovery point. The others
// (all of them after a clean shutdown) are trusted as Kafka trusts them:
// their indexes are checked by their last entries and the batches after
// the last index entry by their headers, never their CRCs, since rescanning
// a whole log at every start is what the checkpoint and the marker exist to
// avoid. Damage there that those checks miss is bit rot on disk, not a torn
// write: it is served as it is, and the consumer's CRC check sees it. So
// when every damaged file is one recovery rescans (or a checkpoint), the
// recovered log must also be the original's intact prefix: offsets
// contiguous from the start offset to the LEO; every batch at its original
// offset with its original CRC-covered bytes; nothing served from the first
// batch whose CRC-covered bytes, length or magic were damaged, or that a
// truncation tore, onwards; every original batch before the first damage
// served; the start offset the one the checkpoint and the surviving
// segments give. The base offset and leader epoch are outside the CRC: a
// garbled epoch is served (the bytes compared start after it), and a base
// offset garbled upwards is indistinguishable from the gap compaction
// leaves, so such a batch may be served at its garbled offset, but then
// with only such batches after it (the next intact one no longer follows
// on and is cut; one garbled upwards too may still follow: recovery cuts a
// garbled jump only where another batch contradicts it, as one that
// overlaps it or a segment that lost a batch and still ends at the next
// one's base),
// even as a segment's first batch, the LEO then jumping up to 2^31 above the
// segment's base (c2fe5741207958dd: a known limit of a log that allows gaps).
func FuzzStorageRecovery(f *testing.F) {
	fx := newRecoveryFixture(f)
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{})
	for i := range fx.names {
		// A flip in the middle of every file, with and without the marker.
		f.Add(uint8(0), []byte{byte(i), mutXor, 0, 40, 0x10})
		f.Add(uint8(1), []byte{byte(i), mutXor, 0, 40, 0x10})
	}
	f.Add(uint8(0), []byte{fx.fileIndex(0, logSuffix), mutTruncate, 0, 150, 0})
	f.Add(uint8(0), []byte{fx.fileIndex(2, logSuffix), mutDelete, 0, 0, 0})
	f.Add(uint8(0), []byte{fx.fileIndex(3, logSuffix), mutAppend, 0, 0, 7})
	f.Add(uint8(0), []byte{fx.nameIndex(recoveryPointFile), mutSetOffset, 0, 0, 0})
	f.Add(uint8(1), []byte{fx.nameIndex(startOffsetFile), mutSetOffset, 0, 5, 0})
	f.Fuzz(func(t *testing.T, flags uint8, muts []byte) {
		fx.check(t, flags&1 != 0, muts)
	})
}

// Mutation kinds: each mutation is 5 bytes, file (an index into
// recoveryFixture.names), kind, a big-endian 16-bit position and a value.
const (
	mutXor       = iota // flip bits: data[pos] ^= value (0 means 0xff)
	mutSet              // data[pos] = value
	mutTruncate         // cut the file at pos
	mutAppend           // append value%32+1 bytes of value (a garbage tail)
	mutDelete           // remove the file
	mutSetOffset        // replace with a one-offset checkpoint of pos%(LEO+4)
	mutKinds
)

const (
	fixtureDir    = "p"
	fixtureMaxMut = 8
)

type fixtureBatch struct {
	data []byte // as stored, base offset set
	h    record.Header
	seg  int   // index into segs
	pos  int64 // file position in its segment
}

type fixtureSeg struct {
	base         int64
	first, limit int // its batches: batches[first:limit]
}

// recoveryFixture is the undamaged log FuzzStorageRecovery starts from.
type recoveryFixture struct {
	files   map[string][]byte // every file after a clean Close, by name
	names   []string          // the files mutations pick from: all but the marker
	batches []fixtureBatch
	segs    []fixtureSeg
	byBody  map[string]int // the CRC-covered bytes of each batch → its index
	leo     int64
}

func newRecoveryFixture(tb testing.TB) *recoveryFixture {
	fs := storagetest.NewCrashableMem()
	c := newClock()
	o := Options{SegmentBytes: 400, IndexIntervalBytes: 90, Now: c.now, Logger: quietLogger()}
	l, err := Open(fs, fixtureDir, o)
	if err != nil {
		tb.Fatal(err)
	}
	epochs := []int32{0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 4, 4}
	for i, e := range epochs {
		if _, err := l.Append(makeBatch(tb, 1+i%3, 1000+int64(i), e, 10+i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	fx := &recoveryFixture{files: map[string][]byte{}, byBody: map[string]int{}, leo: l.EndOffset()}
	ents, err := fs.ReadDir(fixtureDir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		data, err := fs.ReadFile(path.Join(fixtureDir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		fx.files[e.Name()] = data
		if e.Name() != cleanShutdownFile {
			fx.names = append(fx.names, e.Name())
		}
		base, suffix, ok := parseSegmentName(e.Name())
		if !ok || suffix != logSuffix {
			continue
		}
		seg := fixtureSeg{base: base, first: len(fx.batches)}
		for pos, rest := int64(0), data; len(rest) > 0; {
			h, b, r, err := record.Next(rest)
			if err != nil {
				tb.Fatal(err)
			}
			fx.byBody[string(b[bodyOffset:])] = len(fx.batches)
			fx.batches = append(fx.batches, fixtureBatch{data: b, h: h, seg: len(fx.segs), pos: pos})
			pos += int64(len(b))
			rest = r
		}
		seg.limit = len(fx.batches)
		fx.segs = append(fx.segs, seg)
	}
	if _, ok := fx.files[startOffsetFile]; !ok {
		fx.names = append(fx.names, startOffsetFile) // absent at 0; mutSetOffset writes it
	}
	slices.Sort(fx.names)
	if len(fx.segs) < 3 || len(fx.byBody) != len(fx.batches) {
		tb.Fatalf("fixture: %d segments, %d batches, %d distinct", len(fx.segs), len(fx.batches), len(fx.byBody))
	}
	return fx
}

func (fx *recoveryFixture) nameIndex(name string) byte {
	i := slices.Index(fx.names, name)
	if i < 0 {
		panic(name)
	}
	return byte(i)
}

func (fx *recoveryFixture) fileIndex(seg int, suffix string) byte {
	return fx.nameIndex(path.Base(segmentPath("", fx.segs[seg].base, suffix)))
}

// damage applies the mutations to a copy of the files; absent files are
// missing from the result.
func (fx *recoveryFixture) damage(muts []byte) (files map[string][]byte, touched map[string]bool) {
	files = make(map[string][]byte, len(fx.files))
	for name, data := range fx.files {
		files[name] = slices.Clone(data)
	}
	touched = map[string]bool{}
	for n := 0; len(muts) >= 5 && n < fixtureMaxMut; muts, n = muts[5:], n+1 {
		name := fx.names[int(muts[0])%len(fx.names)]
		data, ok := files[name]
		if !ok && muts[1]%mutKinds != mutSetOffset {
			continue
		}
		pos := int(muts[2])<<8 | int(muts[3])
		val := muts[4]
		touched[name] = true
		switch muts[1] % mutKinds {
		case mutXor:
			if len(data) > 0 {
				if val == 0 {
					val = 0xff
				}
				data[pos%len(data)] ^= val
			}
		case mutSet:
			if len(data) > 0 {
				data[pos%len(data)] = val
			}
		case mutTruncate:
			data = data[:pos%(len(data)+1)]
		case mutAppend:
			data = append(data, bytes.Repeat([]byte{val}, int(val%32)+1)...)
		case mutDelete:
			delete(files, name)
			continue
		case mutSetOffset:
			data = encodeStartOffset(int64(pos) % (fx.leo + 4))
		}
		files[name] = data
	}
	return files, touched
}

// write puts the files on a new MemFS, all durable.
func writeFixtureFiles(tb testing.TB, files map[string][]byte) *storagetest.MemFS {
	fs := storagetest.NewCrashableMem()
	if err := fs.MkdirAll(fixtureDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, data := range files {
		f, err := fs.OpenFile(path.Join(fixtureDir, name), fileFlags, filePerm)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
		f.Close()
	}
	if err := fs.SyncDir(fixtureDir); err != nil {
		tb.Fatal(err)
	}
	return fs
}

// served is what a log serves from its start offset to its LEO.
type served struct {
	start, leo int64
	epochs     string
	batches    [][]byte
	readErr    error // the read that stopped the walk, if one failed
}

func (s served) String() string {
	return fmt.Sprintf("start %d leo %d epochs %q, %d batches, read error %v", s.start, s.leo, s.epochs, len(s.batches), s.readErr)
}

// walk reads the log from its start offset to its LEO with Read, stopping
// at the first error or empty read below the LEO.
func walk(l *Log) served {
	s := served{start: l.StartOffset(), leo: l.EndOffset(), epochs: string(l.epochs.encode())}
	next := s.start
	for next < s.leo {
		res, err := l.Read(next, 1<<20, math.MaxInt64, true)
		if err == nil && res.Slice.Size == 0 {
			err = fmt.Errorf("empty read at %d below the LEO %d", next, s.leo)
		}
		var buf []byte
		if err == nil {
			buf, err = res.Slice.ReadInto(nil)
		}
		if err != nil {
			s.readErr = err
			return s
		}
		for len(buf) > 0 {
			h, b, rest, err := record.Next(buf)
			if err != nil {
				s.readErr = fmt.Errorf("read at %d: misframed batch: %w", next, err)
				return s
			}
			s.batches = append(s.batches, b)
			if h.NextOffset() <= next {
				s.readErr = fmt.Errorf("read at %d: batch ends at %d", next, h.NextOffset())
				return s
			}
			next, buf = h.NextOffset(), rest
		}
	}
	return s
}

func (fx *recoveryFixture) check(t *testing.T, clean bool, muts []byte) {
	files, touched := fx.damage(muts)
	if !clean {
		delete(files, cleanShutdownFile)
	}
	fs := writeFixtureFiles(t, files)
	o := Options{SegmentBytes: 400, IndexIntervalBytes: 90, Now: newClock().now, Logger: quietLogger()}
	l, err := Open(fs, fixtureDir, o)
	if err != nil {
		// Open refuses only what it cannot read at all; the damage here
		// (contents, not the file system) is all recoverable.
		t.Fatalf("Open: %v", err)
	}
	got := walk(l)
	again, err := Open(fs.CrashClone(storagetest.CrashOptions{}), fixtureDir, o)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	got2 := walk(again)
	again.close(false)
	l.close(false)
	if got.String() != got2.String() || !slices.EqualFunc(got.batches, got2.batches, bytes.Equal) {
		t.Fatalf("second Open differs:\nfirst  %v\nsecond %v", got, got2)
	}
	for _, b := range got.batches {
		if record.CheckCRC(b) != nil {
			continue
		}
		if _, ok := fx.byBody[string(b[bodyOffset:])]; !ok {
			t.Fatalf("served a batch passing its CRC that the log never had: % x", b)
		}
	}
	if trusted := fx.trustedDamage(files, touched, clean); trusted != "" {
		return // served as it is: see FuzzStorageRecovery
	}
	if err := fx.checkPrefix(files, got); err != nil {
		t.Fatalf("%v\n(got %v)", err, got)
	}
}

// bases are the base offsets of the segments whose .log survived.
func (fx *recoveryFixture) bases(files map[string][]byte) []int {
	var segs []int
	for i, s := range fx.segs {
		if _, ok := files[path.Base(segmentPath("", s.base, logSuffix))]; ok {
			segs = append(segs, i)
		}
	}
	return segs
}

// trustedDamage names a damaged file of a segment recovery does not rescan
// ("" if none).
func (fx *recoveryFixture) trustedDamage(files map[string][]byte, touched map[string]bool, clean bool) string {
	rp, rpOK := int64(0), false
	if data, ok := files[recoveryPointFile]; ok {
		off, err := decodeOffset(recoveryPointFile, data)
		rp, rpOK = off, err == nil
	}
	segs := fx.bases(files)
	for k, i := range segs {
		rescanned := !clean && (k == len(segs)-1 || !rpOK || fx.segs[segs[k+1]].base > rp)
		if rescanned {
			continue
		}
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			name := path.Base(segmentPath("", fx.segs[i].base, suffix))
			if touched[name] {
				if _, ok := files[name]; ok || suffix == logSuffix {
					return name // a deleted index is rebuilt: no damage
				}
			}
		}
	}
	return ""
}

// checkPrefix checks that the log serves the original's intact prefix (see
// FuzzStorageRecovery), all the damage being in rescanned segments.
func (fx *recoveryFixture) checkPrefix(files map[string][]byte, got served) error {
	if got.readErr != nil {
		return fmt.Errorf("read error: %w", got.readErr)
	}
	// The start offset recovery must arrive at, and the segments it
	// keeps (those wholly below it go first).
	segs := fx.bases(files)
	start := int64(0)
	if data, ok := files[startOffsetFile]; ok {
		if off, err := decodeOffset(startOffsetFile, data); err == nil {
			start = off
		}
	}
	for len(segs) > 1 && fx.segs[segs[1]].base <= start {
		segs = segs[1:]
	}
	if len(segs) > 0 {
		start = max(start, fx.segs[segs[0]].base)
	}
	// The first damaged batch (torn, or CRC-covered bytes, length or magic
	// changed, or in a deleted segment after the first surviving one), and
	// the batches whose base offset changed.
	firstBad := len(fx.batches)
	if len(segs) == 0 {
		firstBad = 0 // every segment deleted: nothing can survive
	}
	baseChanged := map[int]bool{}
	for i := range fx.segs {
		if len(segs) > 0 && i > segs[0] && !slices.Contains(segs, i) { // a segment missing after the first
			firstBad = min(firstBad, fx.segs[i].first)
		}
	}
	for _, i := range segs {
		data := files[path.Base(segmentPath("", fx.segs[i].base, logSuffix))]
		for j := fx.segs[i].first; j < fx.segs[i].limit && j < firstBad; j++ {
			b := fx.batches[j]
			end := b.pos + int64(len(b.data))
			if end > int64(len(data)) {
				firstBad = j
				break
			}
			now := data[b.pos:end]
			if !bytes.Equal(now[8:12], b.data[8:12]) || !bytes.Equal(now[16:], b.data[16:]) {
				firstBad = j
				break
			}
			if !bytes.Equal(now[:8], b.data[:8]) {
				baseChanged[j] = true
			}
		}
	}

	if got.start != start {
		return fmt.Errorf("start offset %d, want %d", got.start, start)
	}

	next := got.start
	last := -1
	garbledRun := false // a batch at a garbled (higher) offset was served
	for n, b := range got.batches {
		h, err := record.ReadHeader(b)
		if err != nil {
			return fmt.Errorf("batch %d: %w", n, err)
		}
		if err := record.CheckCRC(b); err != nil {
			return fmt.Errorf("batch %d at %d: %w", n, h.BaseOffset, err)
		}
		if _, err := record.Validate(b); err != nil {
			return fmt.Errorf("batch %d at %d: %w", n, h.BaseOffset, err)
		}
		j := fx.byBody[string(b[bodyOffset:])]
		if j >= firstBad {
			return fmt.Errorf("batch %d at %d: original batch %d is at or after the first damaged one, %d", n, h.BaseOffset, j, firstBad)
		}
		if j <= last {
			return fmt.Errorf("batch %d at %d: original batch %d served again or out of order", n, h.BaseOffset, j)
		}
		last = j
		orig := fx.batches[j].h
		garbledUp := baseChanged[j] && h.BaseOffset > orig.BaseOffset
		switch {
		case garbledRun && !garbledUp:
			return fmt.Errorf("batch %d: original batch %d at %d served after a batch at a garbled offset", n, j, orig.BaseOffset)
		case h.BaseOffset == orig.BaseOffset:
		case garbledUp:
			// A base offset garbled upwards, and from there to the end
			// of the log only such batches (even the first one of a
			// segment: compaction, or a follower copying a compacted
			// leader, may leave a gap there too).
			garbledRun = true
		default:
			return fmt.Errorf("batch %d: original batch %d at %d served at %d", n, j, orig.BaseOffset, h.BaseOffset)
		}
		if n == 0 && (h.BaseOffset > next && !garbledUp || h.LastOffset() < next) {
			return fmt.Errorf("first batch [%d, %d] does not hold the start offset %d", h.BaseOffset, h.LastOffset(), next)
		}
		if n > 0 && h.BaseOffset != next && !baseChanged[j] {
			return fmt.Errorf("batch %d at %d, want %d", n, h.BaseOffset, next)
		}
		next = h.NextOffset()
	}
	if got.leo != next {
		return fmt.Errorf("LEO %d, but the batches served end at %d", got.leo, next)
	}
	// Nothing before the damage lost: every intact original batch that
	// reaches the start offset is served (up to a garbled base offset,
	// which may cut the log at its batch or the next).
	limit := firstBad
	for j := range baseChanged {
		limit = min(limit, j)
	}
	for j := 0; j < limit; j++ {
		b := fx.batches[j]
		if b.h.LastOffset() < got.start {
			continue
		}
		if !slices.ContainsFunc(got.batches, func(s []byte) bool { return bytes.Equal(s[bodyOffset:], b.data[bodyOffset:]) }) {
			return fmt.Errorf("intact batch %d at %d (before the first damaged one, %d) lost", j, b.h.BaseOffset, firstBad)
		}
	}
	return nil
}

// bodyOffset is where the CRC-covered bytes of a batch start (attributes).
const bodyOffset = 21

// TestStorageRecoverEpochsOfTrustedSegments: after a crash, the epochs of
// the segments below the recovery point come from the epoch checkpoint. If
// it does not decode, or is missing while the recovery point says the log
// has data (it is always written first), every segment is rescanned for
// them; and epochs a rescan of such a segment found (here one with a
// garbage tail) are checkpointed by Open, since the next Open trusts that
// segment again (FuzzStorageRecovery found a second Open losing the epoch
// of a segment the first one had rescanned, and both missing the others').
func TestStorageRecoverEpochsOfTrustedSegments(t *testing.T) {
	fx := newRecoveryFixture(t)
	want := string(fx.files[epochCheckpointFile])
	for _, tc := range []struct {
		name  string
		clean bool
		muts  []byte
	}{
		{"bad version line", false, []byte{
			fx.nameIndex(epochCheckpointFile), mutSet, 0, 0, 'x',
			fx.fileIndex(1, logSuffix), mutAppend, 0, 0, 7,
		}},
		{"deleted after a crash", false, []byte{fx.nameIndex(epochCheckpointFile), mutDelete, 0, 0, 0}},
		{"deleted after a clean shutdown", true, []byte{fx.nameIndex(epochCheckpointFile), mutDelete, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, _ := fx.damage(tc.muts)
			if !tc.clean {
				delete(files, cleanShutdownFile)
			}
			fs := writeFixtureFiles(t, files)
			o := Options{SegmentBytes: 400, IndexIntervalBytes: 90, Now: newClock().now, Logger: quietLogger()}
			l := mustOpen(t, fs, fixtureDir, o)
			if got := string(l.epochs.encode()); got != want {
				t.Fatalf("epochs after recovery %q, want %q", got, want)
			}
			again := mustOpen(t, fs.CrashClone(storagetest.CrashOptions{}), fixtureDir, o)
			if got := string(again.epochs.encode()); got != want {
				t.Fatalf("epochs after a second recovery %q, want %q", got, want)
			}
		})
	}
}
