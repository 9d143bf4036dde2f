package keycache

import (
	"fmt"
	"testing"
)

// TestFilterFalsePositives: filled to capacity (and past it, growing a
// second layer), the filter has no false negatives and under 0.1% false
// positives per full layer (about 0.05% expected each; bound 0.1% each,
// so 10,000 random ids cost at most ~10 store reads per full layer).
func TestFilterFalsePositives(t *testing.T) {
	t.Parallel()
	for _, n := range []int{minFilterIDs, 3 * minFilterIDs} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			f := newFilter()
			for i := range n {
				f.add(fmt.Sprintf("in-%d", i))
			}
			for i := range n {
				if !f.has(fmt.Sprintf("in-%d", i)) {
					t.Fatalf("false negative for in-%d", i)
				}
			}
			const probes = 200_000
			fp := 0
			for i := range probes {
				if f.has(fmt.Sprintf("out-%d", i)) {
					fp++
				}
			}
			layers := len(*f.layers.Load())
			t.Logf("%d ids, %d layers: %d false positives in %d (%.4f%%)", n, layers, fp, probes, 100*float64(fp)/probes)
			if fp > layers*probes/1000 {
				t.Errorf("%d false positives in %d", fp, probes)
			}
		})
	}
}

// TestFilterReloadReplacesLayers: a reload builds one layer sized for the
// listing and keeps ids added meanwhile; a failed reload keeps the old
// filter and leaves it incomplete.
func TestFilterReloadReplacesLayers(t *testing.T) {
	t.Parallel()
	f := newFilter()
	for i := range 3 * minFilterIDs {
		f.add(fmt.Sprintf("old-%d", i))
	}
	if n := len(*f.layers.Load()); n < 2 {
		t.Fatalf("%d layers after 3× capacity, want growth", n)
	}
	f.beginReload()
	f.add("during")
	ids := make([]string, 10_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("new-%d", i)
	}
	f.endReload(ids, true)
	if n := len(*f.layers.Load()); n != 1 {
		t.Errorf("%d layers after a reload, want 1", n)
	}
	if !f.has("during") || !f.has("new-9999") || !f.complete.Load() {
		t.Error("reload lost an id or is not complete")
	}
	f.beginReload()
	f.endReload(nil, false)
	if !f.has("new-1") || f.complete.Load() {
		t.Error("a failed reload dropped the filter or left it complete")
	}
}
