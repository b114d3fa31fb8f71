package server

import (
	"math/bits"
	"sync"
)

// FrameReleaser is implemented by handlers that can say, per API key, that
// nothing keeps a reference into a request's bytes once it is answered
// (Produce copies its records into the log). Those frames are recycled;
// every other frame is left to the garbage collector, since kmsg's decoded
// byte fields alias the frame.
type FrameReleaser interface {
	ReleasesFrame(key int16) bool
}

// Frame buffers are pooled in power-of-two classes from 4 KiB to 8 MiB;
// larger frames are allocated and dropped.
const (
	minFrameClass = 12
	maxFrameClass = 23
)

var framePools [maxFrameClass + 1]sync.Pool

func frameClass(n int) int {
	c := bits.Len(uint(n - 1))
	return max(c, minFrameClass)
}

// frameCap is the capacity of the buffer getFrame(n) returns.
func frameCap(n int) int {
	if c := frameClass(n); c <= maxFrameClass {
		return 1 << c
	}
	return n
}

// getFrame returns a buffer of length n, recycled when possible. Its
// contents are not zeroed: the caller overwrites all of it.
func getFrame(n int) []byte {
	c := frameClass(n)
	if c > maxFrameClass {
		return make([]byte, n)
	}
	if p, ok := framePools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putFrame recycles a buffer from getFrame; nil is ignored.
func putFrame(b []byte) {
	c := frameClass(cap(b))
	if c > maxFrameClass || cap(b) != 1<<c {
		return
	}
	p := new([]byte) // only here: a pointer to b itself would put b on the heap at every call
	*p = b
	framePools[c].Put(p)
}
