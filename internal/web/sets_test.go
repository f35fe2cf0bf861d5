package web

import (
	"slices"
	"testing"
)

// TestSets: a key's set is made by its first value and gone with its
// last; removing a value that is not there changes nothing.
func TestSets(t *testing.T) {
	var x sets[string, int]
	if !x.add("a", 1) || x.add("a", 2) || x.add("a", 1) || !x.add("b", 3) {
		t.Fatal("add: first only for a key's first value")
	}
	if n := x.count("a"); n != 2 {
		t.Fatalf("count(a) = %d, want 2", n)
	}
	got := x.of("a")
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("of(a) = %v", got)
	}
	if had, emptied := x.remove("a", 9); had || emptied {
		t.Fatalf("remove of a value not there: %v, %v", had, emptied)
	}
	if had, emptied := x.remove("a", 1); !had || emptied {
		t.Fatalf("remove(a, 1): %v, %v", had, emptied)
	}
	if had, emptied := x.remove("a", 2); !had || !emptied || x.count("a") != 0 || len(x.m) != 1 {
		t.Fatalf("remove(a, 2): %v, %v; keys %v", had, emptied, x.m)
	}
	if all := x.all(func(v int) bool { return v > 1 }); !slices.Equal(all, []int{3}) {
		t.Fatalf("all(> 1) = %v", all)
	}
}
