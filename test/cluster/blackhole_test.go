package cluster

import "testing"

// TestClusterBlackHoledLeaderNeverAcks is TestClusterIsolatedLeaderNeverAcks
// with the isolated leader's connections silent instead of reset: only
// timeouts notice, on both sides of the partition.
func TestClusterBlackHoledLeaderNeverAcks(t *testing.T) {
	testIsolatedLeaderNeverAcks(t, CutBlackHole)
}
