package handlers

// ReleasesFrame implements server.FrameReleaser: a Produce request's bytes
// are copied into the log (or discarded) before it is answered, and nothing
// decoded from it is kept, so its frame can be recycled. Other requests may
// keep decoded byte slices (group metadata, for one), which alias the frame.
func (h *Handlers) ReleasesFrame(key int16) bool { return key == 0 }
