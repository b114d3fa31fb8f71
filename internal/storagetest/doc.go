// Package storagetest holds file systems for tests of internal/storage and
// of the packages above it: FaultFS, which fails chosen operations, and
// MemFS (NewCrashableMem), an in-memory file system that tracks what was
// fsynced, per file and per directory, and can produce the state a power
// loss would leave (CrashClone). Both implement storage.FS (vfs.FS) and
// compose: a FaultFS over a MemFS injects errors into a crashable disk.
//
// Crash tests open a log on a MemFS, do what they test, take a CrashClone
// and open the log again on the clone: whatever the log did not fsync (file
// data) or sync into its directory (creations, renames, removals) is gone,
// as after a power cut. See MemFS for the exact model.
//
// Nothing here is for production use.
package storagetest
