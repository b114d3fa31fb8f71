package group

import "testing"

// TestGroupPartitionForMatchesJava checks the coordinator partition against
// Java's String.hashCode and Kafka's Utils.abs, with hashes worked out from
// Java's definition (s[0]*31^(n-1) + … over UTF-16 code units, int32
// wrapping).
func TestGroupPartitionForMatchesJava(t *testing.T) {
	for _, tc := range []struct {
		id       string
		hash     int32
		p50, p7  int32
		whatIsIt string
	}{
		{"", 0, 0, 0, "empty string hashes to 0"},
		{"a", 97, 47, 6, "one char: its code"},
		{"ab", 97*31 + 98, 5, 4, "3105"},
		{"my-group", -1906497762, 12, 1, "negative hash: absolute value"},
		{"polygenelubricants", -2147483648, 0, 0, "Integer.MIN_VALUE: Utils.abs gives 0"},
		{"groupé", -1237460406, 6, 0, "Latin-1 letter, one UTF-16 unit"},
		{"😀grp", 1276929186, 36, 1, "outside the BMP: two surrogates"},
		{"console-consumer-12345", 158455506, 6, 6, ""},
		{"zzzzzzzzzz", -1580979136, 36, 2, "overflow wraps"},
	} {
		if h := javaStringHashCode(tc.id); h != tc.hash {
			t.Errorf("hashCode(%q) = %d, want %d (%s)", tc.id, h, tc.hash, tc.whatIsIt)
		}
		if p := PartitionFor(tc.id, 50); p != tc.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.id, p, tc.p50)
		}
		if p := PartitionFor(tc.id, 7); p != tc.p7 {
			t.Errorf("PartitionFor(%q, 7) = %d, want %d", tc.id, p, tc.p7)
		}
	}
}
