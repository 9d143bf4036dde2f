package e2e

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"
)

func TestNewDataset(t *testing.T) {
	end := time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)
	leads := NewDataset(DatasetOptions{PerOrg: 1000, End: end, Seed: 1})
	if len(leads) != 2000 {
		t.Fatalf("%d leads, want 2000", len(leads))
	}
	if !leads[len(leads)-1].CreatedAt.Equal(end) {
		t.Errorf("newest lead at %v, want %v", leads[len(leads)-1].CreatedAt, end)
	}
	ids := map[string]bool{}
	perOrg := [2]int{}
	won := [2]int{}
	next := [2]int64{1, 1}
	for i, l := range leads {
		if i > 0 && !l.CreatedAt.After(leads[i-1].CreatedAt) {
			t.Fatalf("lead %d is not newer than lead %d", i, i-1)
		}
		if ids[l.ID] || len(l.ID) != 36 {
			t.Fatalf("lead %d: id %q repeated or not a UUID", i, l.ID)
		}
		ids[l.ID] = true
		if l.Number != next[l.Org] {
			t.Fatalf("lead %d of org %d: number %d, want %d", i, l.Org, l.Number, next[l.Org])
		}
		next[l.Org]++
		perOrg[l.Org]++
		if l.Status == StatusWon {
			won[l.Org]++
		}
		if l.Status == "" || l.Email == "" || l.FirstName == "" {
			t.Fatalf("lead %d has empty fields: %+v", i, l)
		}
	}
	if perOrg != [2]int{1000, 1000} || won != [2]int{100, 100} {
		t.Errorf("per organization %v leads, %v Won; want 1000 and 100 each", perOrg, won)
	}
	// Organizations interleave: the two newest rows belong to both.
	if leads[len(leads)-1].Org == leads[len(leads)-2].Org {
		t.Error("the newest rows belong to one organization")
	}
	again := NewDataset(DatasetOptions{PerOrg: 1000, End: end, Seed: 1})
	if again[5].Email != leads[5].Email || again[5].ID == leads[5].ID {
		t.Error("the seed should fix the contents and never the ids")
	}
}

func TestWriteCSV(t *testing.T) {
	leads := NewDataset(DatasetOptions{PerOrg: 3, End: time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)})
	var b bytes.Buffer
	if err := WriteCSV(&b, leads, []string{"org-a", "org-b"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0][0] != "org" || rows[0][1] != "created" {
		t.Fatalf("rows %q", rows)
	}
	if last := rows[6]; last[0] != "org-b" || last[1] != "2026-07-20T12:00:00.000Z" {
		t.Errorf("last row %q", last)
	}
	if err := WriteCSV(&b, leads, []string{"only-one"}); err == nil {
		t.Error("a lead of an organization without a name was written")
	}
}

func TestPick(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	if got := Pick(ids, 5); len(got) != 5 || got[0] != "a" || got[1] != "c" || got[4] != "i" {
		t.Errorf("Pick(10, 5) = %q", got)
	}
	if got := Pick(ids, 20); len(got) != 10 {
		t.Errorf("Pick(10, 20) = %q", got)
	}
}
