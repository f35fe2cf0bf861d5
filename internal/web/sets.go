package web

// sets are values grouped by a key, each group a set: a process's sockets
// by user, its user streams by user and by the room they follow. The
// zero value is ready to use; its owner locks it.
type sets[K, V comparable] struct {
	m map[K]map[V]struct{}
}

// add puts v in k's set and reports whether k had no set before.
func (x *sets[K, V]) add(k K, v V) (first bool) {
	if x.m == nil {
		x.m = make(map[K]map[V]struct{})
	}
	set := x.m[k]
	if first = set == nil; first {
		set = make(map[V]struct{})
		x.m[k] = set
	}
	set[v] = struct{}{}
	return first
}

// remove takes v out of k's set: had says it was in it, emptied that the
// set is empty now (and gone).
func (x *sets[K, V]) remove(k K, v V) (had, emptied bool) {
	set := x.m[k]
	if _, had = set[v]; !had {
		return false, false
	}
	delete(set, v)
	if len(set) == 0 {
		delete(x.m, k)
		return true, true
	}
	return true, false
}

// count is how many values k's set holds.
func (x *sets[K, V]) count(k K) int { return len(x.m[k]) }

// of returns the values of k's set.
func (x *sets[K, V]) of(k K) []V {
	out := make([]V, 0, len(x.m[k]))
	for v := range x.m[k] {
		out = append(out, v)
	}
	return out
}

// all returns every value for which keep is true (every one if keep is
// nil).
func (x *sets[K, V]) all(keep func(V) bool) []V {
	var out []V
	for _, set := range x.m {
		for v := range set {
			if keep == nil || keep(v) {
				out = append(out, v)
			}
		}
	}
	return out
}
