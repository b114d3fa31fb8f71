package group

import (
	"math"
	"unicode/utf16"
)

// javaStringHashCode is Java's String.hashCode: s[0]*31^(n-1) + … + s[n-1]
// over the string's UTF-16 code units, in 32-bit arithmetic that wraps. A
// group id arrives as UTF-8 and Java decodes it to UTF-16 first, so runes
// outside the Basic Multilingual Plane count as their two surrogates.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// kafkaAbs is Kafka's Utils.abs: the absolute value, except that
// Integer.MIN_VALUE (whose absolute value does not fit) maps to 0.
func kafkaAbs(n int32) int32 {
	if n == math.MinInt32 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}

// PartitionFor is the __consumer_offsets partition of group id among n
// partitions, as Kafka computes it.
func PartitionFor(id string, n int32) int32 {
	return kafkaAbs(javaStringHashCode(id)) % n
}
