package audit_test

import (
	"fmt"
	"testing"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/audittest"
)

func TestMemoryEventsSuite(t *testing.T) {
	for _, c := range []int{0, 5} {
		t.Run(fmt.Sprint("cap=", c), func(t *testing.T) {
			audittest.RunEvents(t, func(t *testing.T) audit.Events {
				return audit.NewMemoryEvents(audit.MemoryEventsOptions{Cap: c})
			})
		})
	}
}

func TestMemoryEventsEvictsOrganizations(t *testing.T) {
	t.Parallel()
	m := audit.NewMemoryEvents(audit.MemoryEventsOptions{MaxOrgs: 2})
	for i, org := range []string{"a", "b", "a", "c"} {
		if err := m.Append(t.Context(), audit.Event{OrganizationID: org, Action: audit.ActionOrgCreated, Time: time.UnixMilli(int64(i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	for org, want := range map[string]int{"a": 2, "b": 0, "c": 1} {
		if got, _ := m.List(t.Context(), org); len(got) != want {
			t.Errorf("%s: %d events, want %d", org, len(got), want)
		}
	}
}
