package authtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
)

func testRotate(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	for _, tc := range []struct {
		name       string
		expires    *time.Time
		grace      time.Duration
		wantOldExp time.Time
	}{
		{"no expiry", nil, 24 * time.Hour, base.Add(time.Hour + 24*time.Hour)},
		{"grace zero", nil, 0, base.Add(time.Hour)},
		{"own expiry earlier", ptr(base.Add(3 * time.Hour)), 24 * time.Hour, base.Add(3 * time.Hour)},
		{"own expiry later", ptr(base.Add(72 * time.Hour)), 24 * time.Hour, base.Add(25 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKey(t, org, base)
			k.ExpiresAt = tc.expires
			create(t, s, k)
			now := base.Add(time.Hour)
			rot, err := auth.RotateKey(ctx, s.Keys, "gh", org, k.ID, tc.grace, now)
			if err != nil {
				t.Fatalf("RotateKey: %v", err)
			}
			p, err := auth.Parse(rot.Raw.Reveal())
			if err != nil {
				t.Fatalf("new raw key: %v", err)
			}
			if p.PublicID != rot.New.PublicID || !auth.Verify(rot.Raw.Reveal(), rot.New.Hash) || rot.New.ID == k.ID {
				t.Fatalf("new key record does not match the raw key")
			}
			wantNew := k
			wantNew.ID, wantNew.PublicID, wantNew.Hash, wantNew.DisplayPrefix = rot.New.ID, rot.New.PublicID, rot.New.Hash, rot.New.DisplayPrefix
			wantNew.CreatedAt, wantNew.UpdatedAt, wantNew.Lineage = now, now, k.ID
			checkKey(t, "RotateKey New", rot.New, wantNew)
			got, err := s.Keys.GetKey(ctx, org, rot.New.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkKey(t, "GetKey(new)", got, wantNew)
			got, err = s.Keys.LookupKey(ctx, rot.New.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			checkKey(t, "LookupKey(new)", got, wantNew)

			wantOld := k
			wantOld.ExpiresAt, wantOld.UpdatedAt, wantOld.ReplacedBy = &tc.wantOldExp, now, rot.New.ID
			checkKey(t, "RotateKey Old", rot.Old, wantOld)
			got, err = s.Keys.LookupKey(ctx, k.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			checkKey(t, "LookupKey(old)", got, wantOld)
			if got.Expired(tc.wantOldExp.Add(-time.Microsecond)) || !got.Expired(tc.wantOldExp) {
				t.Errorf("old key should work until %v and not after", tc.wantOldExp)
			}
			cur, err := auth.CurrentKey(ctx, s.Keys, org, k.ID)
			if err != nil || cur.ID != rot.New.ID {
				t.Errorf("CurrentKey = %v, %v; want the new key", cur.ID, err)
			}
		})
	}
}

func testRotateRefused(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	now := base.Add(time.Hour)

	revoked := create(t, s, newKey(t, org, base))
	if _, err := s.Keys.RevokeKey(ctx, org, revoked.ID, base); err != nil {
		t.Fatal(err)
	}
	_, err := auth.RotateKey(ctx, s.Keys, "gh", org, revoked.ID, time.Hour, now)
	checkErr(t, "rotate revoked", err, auth.ErrRevoked)

	expired := newKey(t, org, base)
	expired.ExpiresAt = ptr(base.Add(time.Minute))
	create(t, s, expired)
	_, err = auth.RotateKey(ctx, s.Keys, "gh", org, expired.ID, time.Hour, now)
	checkErr(t, "rotate expired", err, auth.ErrExpired)

	k := create(t, s, newKey(t, org, base))
	if _, err := auth.RotateKey(ctx, s.Keys, "gh", org, k.ID, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	_, err = auth.RotateKey(ctx, s.Keys, "gh", org, k.ID, time.Hour, now)
	checkErr(t, "rotate twice", err, auth.ErrRotated)

	other := create(t, s, newKey(t, org, base))
	_, err = auth.RotateKey(ctx, s.Keys, "gh", uuid.New(), other.ID, time.Hour, now)
	checkErr(t, "rotate from another organization", err, auth.ErrNotFound)
	_, err = s.Keys.ReplaceKey(ctx, uuid.New(), other.ID, newKey(t, org, now), now, now)
	if err == nil {
		t.Error("ReplaceKey with a next key of another organization: no error")
	}
	if _, err := auth.RotateKey(ctx, s.Keys, "gh", org, other.ID, auth.MaxRotationGrace+time.Second, now); err == nil {
		t.Error("grace above the maximum: no error")
	}
	if _, err := auth.RotateKey(ctx, s.Keys, "gh", org, other.ID, -time.Second, now); err == nil {
		t.Error("negative grace: no error")
	}
	// Nothing was written by the refusals: other is untouched and the
	// organization holds exactly the keys made above plus one rotation.
	got, err := s.Keys.GetKey(ctx, org, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "refused rotations leave the key", got, other)
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Errorf("ListKeys: %d keys, want 5 (4 created, 1 rotation)", len(list))
	}
}

func testRotateChain(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	first := create(t, s, newKey(t, org, base))
	id := first.ID
	var ids []string
	for i := range 3 {
		rot, err := auth.RotateKey(ctx, s.Keys, "gh", org, id, time.Hour, base.Add(time.Duration(i+1)*time.Minute))
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if rot.New.Lineage != first.ID || rot.Old.LineageID() != first.ID {
			t.Fatalf("rotation %d: lineage %q/%q, want %q", i, rot.New.Lineage, rot.Old.Lineage, first.ID)
		}
		id = rot.New.ID
		ids = append(ids, id)
	}
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.LineageID() != first.ID {
			t.Errorf("ListKeys: key %s lineage %q, want %q", k.ID, k.Lineage, first.ID)
		}
	}
	cur, err := auth.CurrentKey(ctx, s.Keys, org, first.ID)
	if err != nil || cur.ID != ids[len(ids)-1] {
		t.Errorf("CurrentKey(first) = %s, %v; want %s", cur.ID, err, ids[len(ids)-1])
	}
	// An unrelated key keeps its own lineage.
	other := create(t, s, newKey(t, org, base))
	got, err := s.Keys.LookupKey(ctx, other.PublicID)
	if err != nil || got.LineageID() != other.ID || got.Rotated() {
		t.Errorf("unrelated key: lineage %q replaced by %q, err %v", got.Lineage, got.ReplacedBy, err)
	}
}

func testRotateConcurrent(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := create(t, s, newKey(t, org, base))
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = auth.RotateKey(ctx, s.Keys, "gh", org, k.ID, time.Hour, base.Add(time.Minute))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, auth.ErrRotated):
		default:
			// SQLite may refuse a concurrent writer with "database is
			// locked"; what matters is that at most one rotation wins.
			t.Logf("concurrent rotation: %v", err)
		}
	}
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(list) != 2 {
		t.Errorf("%d rotations won and %d keys stored, want 1 and 2", won, len(list))
	}
}

func testListOrgs(t *testing.T, s Stores) {
	ctx := context.Background()
	// Names unique to this run so other subtests' organizations do not
	// match; a far-future creation time puts them first in the order.
	tag := uuid.New()[:8]
	far := time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
	var made []auth.Org
	for i, name := range []string{"Acme %s", "ACME_%s labs", "Globex %s", "acme%% %s", "Initech %s"} {
		o, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: uuid.New(), Name: fmt.Sprintf(name, tag), CreatedAt: far.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, o)
	}
	// Two organizations with the same creation time: the id breaks the tie.
	twinA, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: "00000000-0000-4000-8000-" + tag + "000a", Name: "Twin " + tag, CreatedAt: far.Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	twinB, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: "00000000-0000-4000-8000-" + tag + "000b", Name: "Twin " + tag, CreatedAt: far.Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	names := func(list []auth.Org) []string {
		out := make([]string, len(list))
		for i, o := range list {
			out[i] = o.Name
		}
		return out
	}
	// Pages of 2 from the top: the newest first, the twins by id.
	var all []auth.Org
	var after *auth.Org
	for range 4 {
		page, err := s.Orgs.ListOrgs(ctx, auth.OrgQuery{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		all = append(all, page...)
		if len(page) == 0 {
			break
		}
		after = &page[len(page)-1]
	}
	want := []auth.Org{made[4], made[3], made[2], made[1], made[0], twinB, twinA}
	if got := all[:min(len(all), len(want))]; !slices.EqualFunc(got, want, func(a, b auth.Org) bool { return a.ID == b.ID }) {
		t.Errorf("pages = %v, want %v", names(got), names(want))
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"acme", []string{made[3].Name, made[1].Name, made[0].Name}},
		{"ACME_" + tag, []string{made[1].Name}},  // _ is a plain character
		{"acme% " + tag, []string{made[3].Name}}, // so is %
		{"twin " + tag, []string{"Twin " + tag, "Twin " + tag}},
		{"nothing-like-" + tag, []string{}},
	} {
		got, err := s.Orgs.ListOrgs(ctx, auth.OrgQuery{Name: tc.q})
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, o := range got {
			if slices.Contains(names(append(made, twinA, twinB)), o.Name) {
				mine = append(mine, o.Name)
			}
		}
		if len(mine) == 0 {
			mine = []string{}
		}
		if !slices.Equal(mine, tc.want) {
			t.Errorf("ListOrgs(Name %q) = %q, want %q", tc.q, mine, tc.want)
		}
	}
	got, err := s.Orgs.ListOrgs(ctx, auth.OrgQuery{Name: "acme", After: &made[3]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || got[0].ID != made[1].ID || got[1].ID != made[0].ID {
		t.Errorf("ListOrgs(acme, after %q) = %q", made[3].Name, names(got))
	}
}
