package config

import (
	"sort"
	"strings"
)

// unknownKey is the error for a key the table does not have, with a
// suggestion when a known key is close to it.
func unknownKey(key, origin string) *Error {
	e := &Error{Key: key, Origin: origin, Err: ErrUnknownKey}
	if rest, ok := strings.CutPrefix(key, "listener.name."); ok {
		// listener.name.<listener>.<key>: Kafka's per-listener overrides
		// (SSL and SASL settings, connection limits).
		if _, k, ok := strings.Cut(rest, "."); ok {
			e.Reason = "per-listener settings (listener.name.NAME.KEY) are not supported yet"
			if _, known := brokerIndex[k]; known {
				e.Suggestion = k
			}
			return e
		}
	}
	e.Suggestion = suggestKey(key, brokerNames)
	return e
}

// suggestKey returns the name in names that key is most likely a misspelling
// of, or "" when none is close: the same key written with '_' or '-' for
// '.' or in another case; one within a small edit distance (letters
// dropped, doubled, swapped or mistyped), the smallest distance winning,
// then the name first in order; else the shortest key that ends with it
// ("retention.ms" for log.retention.ms) or starts with it
// ("controller.quorum.bootstrap" for controller.quorum.bootstrap.servers).
func suggestKey(key string, names []string) string {
	norm := strings.ToLower(strings.NewReplacer("_", ".", "-", ".").Replace(strings.TrimSpace(key)))
	if norm == "" {
		return ""
	}
	best, bestD := "", maxSuggestDistance(norm)+1
	var partial []string
	for _, n := range names {
		if n == norm {
			return n
		}
		if strings.HasSuffix(n, "."+norm) || strings.HasPrefix(n, norm+".") {
			partial = append(partial, n)
		}
		if d := editDistance(norm, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return best
	}
	if len(partial) > 0 {
		sort.SliceStable(partial, func(i, j int) bool { return len(partial[i]) < len(partial[j]) })
		return partial[0]
	}
	return ""
}

// maxSuggestDistance is how many edits a suggestion may be away: short keys
// get fewer, so that unrelated short names are not offered.
func maxSuggestDistance(key string) int {
	switch {
	case len(key) <= 6:
		return 1
	case len(key) <= 15:
		return 2
	}
	return 3
}

// editDistance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and swaps of adjacent bytes), or
// limit when it is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}

// SuggestEnv returns the GREGOR_* variable that an unknown one (such as an
// IgnoredEnv entry) is probably a misspelling of, or "" when none is close.
func SuggestEnv(name string) string {
	if k := suggestKey(envKeyName(name), brokerNames); k != "" {
		return EnvName(k)
	}
	return ""
}
