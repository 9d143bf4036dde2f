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
	"gatehouse.dev/scope"
)

// Stores are the implementations under test. Keys and Orgs may be the same
// value.
type Stores struct {
	Keys auth.KeyStore
	Orgs auth.OrgStore
}

// base is the suite's reference time, with microsecond precision (the
// precision every store keeps).
var base = time.Date(2025, 3, 4, 5, 6, 7, 891234000, time.UTC)

// RunStore runs the behaviour suite. Each subtest calls newStore once and
// subtests run in parallel. The stores returned may share their backing
// database with other subtests: every subtest works in organizations and
// keys of its own, with fresh UUIDs.
func RunStore(t *testing.T, newStore func(t *testing.T) Stores) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Stores)
	}{
		{"CreateGetLookup", testCreateGetLookup},
		{"CreateDefaults", testCreateDefaults},
		{"CreateInvalid", testCreateInvalid},
		{"CreateConflict", testCreateConflict},
		{"TimesNormalized", testTimesNormalized},
		{"NotFound", testNotFound},
		{"CrossOrganization", testCrossOrganization},
		{"ListNewestFirst", testListNewestFirst},
		{"UpdatePartial", testUpdatePartial},
		{"RevokeIdempotent", testRevokeIdempotent},
		{"TouchKeys", testTouchKeys},
		{"Orgs", testOrgs},
		{"OrgDefaults", testOrgDefaults},
		{"OrgConflict", testOrgConflict},
		{"CopiesNotAliases", testCopies},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceled},
		{"Rotate", testRotate},
		{"RotateRefused", testRotateRefused},
		{"RotateChain", testRotateChain},
		{"RotateConcurrent", testRotateConcurrent},
		{"ListOrgs", testListOrgs},
		{"ListPublicIDs", testListPublicIDs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			if s.Keys == nil || s.Orgs == nil {
				t.Fatal("authtest: newStore returned nil stores")
			}
			tc.fn(t, s)
		})
	}
}

// newKey returns a key record of orgID created at created, as the admin API
// builds it from a generated key.
func newKey(t *testing.T, orgID string, created time.Time) auth.Key {
	t.Helper()
	raw, p, err := auth.Generate("gh", auth.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Key{
		ID:                 uuid.New(),
		OrganizationID:     orgID,
		Name:               "key " + p.PublicID[:4],
		Env:                p.Env,
		PublicID:           p.PublicID,
		Hash:               auth.Hash(raw.Reveal()),
		DisplayPrefix:      p.DisplayPrefix(),
		Scopes:             scope.NewSet("leads:read", "leads:create"),
		RateLimitPerMinute: 60,
		CreatedAt:          created,
		UpdatedAt:          created,
	}
}

func create(t *testing.T, s Stores, k auth.Key) auth.Key {
	t.Helper()
	if err := s.Keys.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func fmtTime(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.Format(time.RFC3339Nano)
}

// diffKey describes how got differs from want, or returns "".
func diffKey(got, want auth.Key) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("OrganizationID", got.OrganizationID, want.OrganizationID)
	str("Name", got.Name, want.Name)
	str("Env", got.Env, want.Env)
	str("PublicID", got.PublicID, want.PublicID)
	str("Hash", got.Hash, want.Hash)
	str("DisplayPrefix", got.DisplayPrefix, want.DisplayPrefix)
	str("Lineage", got.LineageID(), want.LineageID())
	str("ReplacedBy", got.ReplacedBy, want.ReplacedBy)
	if !slices.Equal(got.Scopes.Strings(), want.Scopes.Strings()) {
		d = append(d, fmt.Sprintf("Scopes = %v, want %v", got.Scopes.Strings(), want.Scopes.Strings()))
	}
	if got.RateLimitPerMinute != want.RateLimitPerMinute {
		d = append(d, fmt.Sprintf("RateLimitPerMinute = %d, want %d", got.RateLimitPerMinute, want.RateLimitPerMinute))
	}
	for _, f := range []struct {
		name      string
		got, want *time.Time
	}{
		{"CreatedAt", &got.CreatedAt, &want.CreatedAt},
		{"UpdatedAt", &got.UpdatedAt, &want.UpdatedAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt},
	} {
		if !sameTime(f.got, f.want) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", f.name, fmtTime(f.got), fmtTime(f.want)))
		}
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func checkKey(t *testing.T, what string, got, want auth.Key) {
	t.Helper()
	if d := diffKey(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func testCreateGetLookup(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := newKey(t, org, base)
	k.ExpiresAt = ptr(base.Add(30 * 24 * time.Hour))
	k.RateLimitPerMinute = 300
	k.Env = auth.EnvTest
	create(t, s, k)

	got, err := s.Keys.GetKey(ctx, org, k.ID)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	checkKey(t, "GetKey", got, k)

	got, err = s.Keys.LookupKey(ctx, k.PublicID)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	checkKey(t, "LookupKey", got, k)
	if got.Revoked() || got.Expired(base) {
		t.Errorf("fresh key: Revoked=%v Expired=%v, want false", got.Revoked(), got.Expired(base))
	}
}

func testCreateDefaults(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := newKey(t, org, time.Time{})
	k.UpdatedAt = time.Time{}
	before := time.Now().Add(-time.Minute)
	create(t, s, k)
	got, err := s.Keys.GetKey(ctx, org, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("zero CreatedAt stored as %v, want about now", got.CreatedAt)
	}
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("zero UpdatedAt stored as %v, want CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
	if got.ExpiresAt != nil || got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Errorf("optional times = %s %s %s, want all nil", fmtTime(got.ExpiresAt), fmtTime(got.LastUsedAt), fmtTime(got.RevokedAt))
	}
}

func testCreateInvalid(t *testing.T, s Stores) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		edit func(*auth.Key)
	}{
		{"no id", func(k *auth.Key) { k.ID = "" }},
		{"no public id", func(k *auth.Key) { k.PublicID = "" }},
		{"no organization", func(k *auth.Key) { k.OrganizationID = "" }},
		{"rate limit 0", func(k *auth.Key) { k.RateLimitPerMinute = 0 }},
		{"negative rate limit", func(k *auth.Key) { k.RateLimitPerMinute = -5 }},
	} {
		k := newKey(t, uuid.New(), base)
		tc.edit(&k)
		err := s.Keys.CreateKey(ctx, k)
		if err == nil || errors.Is(err, auth.ErrConflict) {
			t.Errorf("CreateKey with %s: err = %v, want a validation error", tc.name, err)
		}
		if tc.name == "rate limit 0" && !errors.Is(err, auth.ErrInvalidRateLimit) {
			t.Errorf("CreateKey with %s: err = %v, want ErrInvalidRateLimit", tc.name, err)
		}
	}
	// An update to a limit below 1 is refused and changes nothing.
	k := newKey(t, uuid.New(), base)
	if err := s.Keys.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if _, err := s.Keys.UpdateKey(ctx, k.OrganizationID, k.ID, auth.KeyUpdate{RateLimitPerMinute: &zero}, base.Add(time.Minute)); !errors.Is(err, auth.ErrInvalidRateLimit) {
		t.Errorf("UpdateKey to 0 per minute: err = %v, want ErrInvalidRateLimit", err)
	}
	if got, err := s.Keys.GetKey(ctx, k.OrganizationID, k.ID); err != nil || got.RateLimitPerMinute != k.RateLimitPerMinute {
		t.Errorf("after a refused update: %d, %v; want %d", got.RateLimitPerMinute, err, k.RateLimitPerMinute)
	}
}

func testCreateConflict(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := create(t, s, newKey(t, org, base))

	sameID := newKey(t, org, base)
	sameID.ID = k.ID
	checkErr(t, "CreateKey with an existing id", s.Keys.CreateKey(ctx, sameID), auth.ErrConflict)

	samePublic := newKey(t, uuid.New(), base)
	samePublic.PublicID = k.PublicID
	checkErr(t, "CreateKey with an existing public id", s.Keys.CreateKey(ctx, samePublic), auth.ErrConflict)

	// The original is untouched and the rejected ones were not stored.
	got, err := s.Keys.LookupKey(ctx, k.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "after conflicts", got, k)
	if _, err := s.Keys.LookupKey(ctx, sameID.PublicID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("key rejected for its id was stored (err = %v)", err)
	}
	if list, _ := s.Keys.ListKeys(ctx, samePublic.OrganizationID); len(list) != 0 {
		t.Errorf("key rejected for its public id was stored: %d keys", len(list))
	}
}

func testTimesNormalized(t *testing.T, s Stores) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+2", 2*3600)
	org := uuid.New()
	k := newKey(t, org, time.Date(2025, 6, 7, 8, 9, 10, 123456789, zone))
	k.UpdatedAt = k.CreatedAt
	k.ExpiresAt = ptr(time.Date(2026, 1, 1, 23, 59, 59, 999999999, zone))
	create(t, s, k)
	got, err := s.Keys.GetKey(ctx, org, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.CreatedAt = k.CreatedAt.Truncate(time.Microsecond)
	want.UpdatedAt = want.CreatedAt
	want.ExpiresAt = ptr(k.ExpiresAt.Truncate(time.Microsecond))
	checkKey(t, "microsecond precision", got, want)
	if got.CreatedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
		t.Errorf("times in %v and %v, want UTC", got.CreatedAt.Location(), got.ExpiresAt.Location())
	}
}

func testNotFound(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	missing := uuid.New()
	_, err := s.Keys.GetKey(ctx, org, missing)
	checkErr(t, "GetKey", err, auth.ErrNotFound)
	_, err = s.Keys.GetKey(ctx, org, "not-a-uuid")
	checkErr(t, "GetKey with a malformed id", err, auth.ErrNotFound)
	_, err = s.Keys.LookupKey(ctx, "0123456789abcdef")
	checkErr(t, "LookupKey", err, auth.ErrNotFound)
	_, err = s.Keys.UpdateKey(ctx, org, missing, auth.KeyUpdate{Name: ptr("x")}, base)
	checkErr(t, "UpdateKey", err, auth.ErrNotFound)
	_, err = s.Keys.UpdateKey(ctx, org, missing, auth.KeyUpdate{}, base)
	checkErr(t, "UpdateKey with no change", err, auth.ErrNotFound)
	_, err = s.Keys.RevokeKey(ctx, org, missing, base)
	checkErr(t, "RevokeKey", err, auth.ErrNotFound)
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil || len(list) != 0 {
		t.Errorf("ListKeys of an empty organization = %d keys, %v; want none", len(list), err)
	}
	if err := s.Keys.TouchKeys(ctx, []string{missing}, base); err != nil {
		t.Errorf("TouchKeys of an unknown id: %v, want nil", err)
	}
}

func testCrossOrganization(t *testing.T, s Stores) {
	ctx := context.Background()
	orgA, orgB := uuid.New(), uuid.New()
	a := create(t, s, newKey(t, orgA, base))
	b := create(t, s, newKey(t, orgB, base.Add(time.Second)))

	_, err := s.Keys.GetKey(ctx, orgB, a.ID)
	checkErr(t, "GetKey of another organization's key", err, auth.ErrNotFound)
	_, err = s.Keys.UpdateKey(ctx, orgB, a.ID, auth.KeyUpdate{Name: ptr("stolen"), RateLimitPerMinute: ptr(1)}, base.Add(time.Hour))
	checkErr(t, "UpdateKey of another organization's key", err, auth.ErrNotFound)
	_, err = s.Keys.UpdateKey(ctx, orgB, a.ID, auth.KeyUpdate{}, base.Add(time.Hour))
	checkErr(t, "empty UpdateKey of another organization's key", err, auth.ErrNotFound)
	_, err = s.Keys.RevokeKey(ctx, orgB, a.ID, base.Add(time.Hour))
	checkErr(t, "RevokeKey of another organization's key", err, auth.ErrNotFound)

	got, err := s.Keys.GetKey(ctx, orgA, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "key after another organization's attempts", got, a)

	for org, want := range map[string]auth.Key{orgA: a, orgB: b} {
		list, err := s.Keys.ListKeys(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != want.ID {
			t.Errorf("ListKeys(%s) = %v, want only %s", org, ids(list), want.ID)
		}
	}
}

func ids(keys []auth.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func testListNewestFirst(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	var want []auth.Key
	// Created out of order; two share a created_at and are ordered by id
	// descending.
	for _, off := range []time.Duration{2 * time.Hour, 0, 5 * time.Hour, time.Hour, time.Hour} {
		k := newKey(t, org, base.Add(off))
		if off == 0 {
			k.ExpiresAt = ptr(base.Add(48 * time.Hour))
		}
		want = append(want, create(t, s, k))
	}
	create(t, s, newKey(t, uuid.New(), base.Add(3*time.Hour))) // another organization
	slices.SortFunc(want, func(a, b auth.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		if a.ID > b.ID {
			return -1
		}
		return 1
	})
	got, err := s.Keys.ListKeys(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("ListKeys order = %v, want %v", ids(got), ids(want))
	}
	for i := range got {
		checkKey(t, "ListKeys["+fmt.Sprint(i)+"]", got[i], want[i])
	}
}

func testUpdatePartial(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := newKey(t, org, base)
	k.ExpiresAt = ptr(base.Add(24 * time.Hour))
	create(t, s, k)
	want := k

	steps := []struct {
		name  string
		u     auth.KeyUpdate
		apply func(*auth.Key)
	}{
		{"name", auth.KeyUpdate{Name: ptr("renamed")}, func(k *auth.Key) { k.Name = "renamed" }},
		{"scopes", auth.KeyUpdate{Scopes: ptr(scope.NewSet("tasks:read"))}, func(k *auth.Key) { k.Scopes = scope.NewSet("tasks:read") }},
		{"rate limit", auth.KeyUpdate{RateLimitPerMinute: ptr(7)}, func(k *auth.Key) { k.RateLimitPerMinute = 7 }},
		{"expiry", auth.KeyUpdate{SetExpiresAt: true, ExpiresAt: ptr(base.Add(72 * time.Hour))}, func(k *auth.Key) { k.ExpiresAt = ptr(base.Add(72 * time.Hour)) }},
		{"clear expiry", auth.KeyUpdate{SetExpiresAt: true}, func(k *auth.Key) { k.ExpiresAt = nil }},
		{"expiry left alone when SetExpiresAt is false", auth.KeyUpdate{Name: ptr("n2"), ExpiresAt: ptr(base)}, func(k *auth.Key) { k.Name = "n2" }},
		{"all at once", auth.KeyUpdate{
			Name: ptr("all"), Scopes: ptr(scope.NewSet("leads:read", "tasks:update")), RateLimitPerMinute: ptr(300),
			SetExpiresAt: true, ExpiresAt: ptr(base.Add(96 * time.Hour)),
		}, func(k *auth.Key) {
			k.Name, k.Scopes, k.RateLimitPerMinute = "all", scope.NewSet("leads:read", "tasks:update"), 300
			k.ExpiresAt = ptr(base.Add(96 * time.Hour))
		}},
	}
	for i, st := range steps {
		now := base.Add(time.Duration(i+1) * time.Minute)
		got, err := s.Keys.UpdateKey(ctx, org, k.ID, st.u, now)
		if err != nil {
			t.Fatalf("UpdateKey %s: %v", st.name, err)
		}
		st.apply(&want)
		want.UpdatedAt = now
		checkKey(t, "UpdateKey "+st.name+" result", got, want)
		stored, err := s.Keys.GetKey(ctx, org, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, "after UpdateKey "+st.name, stored, want)
	}

	// A zero update changes nothing, not even UpdatedAt.
	got, err := s.Keys.UpdateKey(ctx, org, k.ID, auth.KeyUpdate{}, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "zero UpdateKey", got, want)
	got, err = s.Keys.LookupKey(ctx, k.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "LookupKey after updates", got, want)
}

func testRevokeIdempotent(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := create(t, s, newKey(t, org, base))
	other := create(t, s, newKey(t, org, base))

	at := base.Add(time.Hour)
	got, err := s.Keys.RevokeKey(ctx, org, k.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.RevokedAt, want.UpdatedAt = &at, at
	checkKey(t, "RevokeKey", got, want)
	if !got.Revoked() {
		t.Error("Revoked() = false after RevokeKey")
	}

	got, err = s.Keys.RevokeKey(ctx, org, k.ID, at.Add(time.Hour))
	if err != nil {
		t.Fatalf("second RevokeKey: %v", err)
	}
	checkKey(t, "second RevokeKey keeps the first revocation", got, want)

	got, err = s.Keys.LookupKey(ctx, k.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "LookupKey of a revoked key", got, want)

	got, err = s.Keys.GetKey(ctx, org, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "other key of the organization", got, other)
}

func testTouchKeys(t *testing.T, s Stores) {
	ctx := context.Background()
	org, org2 := uuid.New(), uuid.New()
	a := create(t, s, newKey(t, org, base))
	b := create(t, s, newKey(t, org2, base))
	c := create(t, s, newKey(t, org, base))

	if err := s.Keys.TouchKeys(ctx, nil, base); err != nil {
		t.Fatalf("TouchKeys(nil): %v", err)
	}
	at := base.Add(time.Minute)
	if err := s.Keys.TouchKeys(ctx, []string{a.ID, b.ID, uuid.New()}, at); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	// Touching never moves last_used_at back.
	if err := s.Keys.TouchKeys(ctx, []string{a.ID}, base.Add(time.Second)); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	for _, tc := range []struct {
		k    auth.Key
		want *time.Time
	}{{a, &at}, {b, &at}, {c, nil}} {
		got, err := s.Keys.LookupKey(ctx, tc.k.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.k
		want.LastUsedAt = tc.want // UpdatedAt is not a metadata change
		checkKey(t, "after TouchKeys", got, want)
	}

	// Many ids in one call.
	var many []string
	for range 1200 {
		many = append(many, uuid.New())
	}
	many = append(many, c.ID)
	later := base.Add(time.Hour)
	if err := s.Keys.TouchKeys(ctx, many, later); err != nil {
		t.Fatalf("TouchKeys of %d ids: %v", len(many), err)
	}
	got, err := s.Keys.GetKey(ctx, org, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTime(got.LastUsedAt, &later) {
		t.Errorf("LastUsedAt after a large TouchKeys = %s, want %s", fmtTime(got.LastUsedAt), fmtTime(&later))
	}
}

func testOrgs(t *testing.T, s Stores) {
	ctx := context.Background()
	id := uuid.New()
	o, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: id, Name: "Acme", CreatedAt: base, UpdatedAt: base})
	if err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	want := auth.Org{ID: id, Name: "Acme", CreatedAt: base, UpdatedAt: base}
	checkOrg(t, "CreateOrg", o, want)
	got, err := s.Orgs.GetOrg(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	checkOrg(t, "GetOrg", got, want)
	checkEnabled(t, s, id, false)

	on := base.Add(time.Hour)
	got, err = s.Orgs.SetAPIEnabled(ctx, id, true, on)
	if err != nil {
		t.Fatal(err)
	}
	want.APIEnabled, want.UpdatedAt = true, on
	checkOrg(t, "SetAPIEnabled(true)", got, want)
	checkEnabled(t, s, id, true)
	if got, err = s.Orgs.GetOrg(ctx, id); err != nil {
		t.Fatal(err)
	}
	checkOrg(t, "GetOrg after SetAPIEnabled", got, want)

	off := base.Add(2 * time.Hour)
	if got, err = s.Orgs.SetAPIEnabled(ctx, id, false, off); err != nil {
		t.Fatal(err)
	}
	want.APIEnabled, want.UpdatedAt = false, off
	checkOrg(t, "SetAPIEnabled(false)", got, want)
	checkEnabled(t, s, id, false)

	missing := uuid.New()
	_, err = s.Orgs.GetOrg(ctx, missing)
	checkErr(t, "GetOrg of an unknown organization", err, auth.ErrNotFound)
	_, err = s.Orgs.SetAPIEnabled(ctx, missing, true, on)
	checkErr(t, "SetAPIEnabled of an unknown organization", err, auth.ErrNotFound)
	checkEnabled(t, s, missing, false)
	checkEnabled(t, s, "", false)
}

func checkEnabled(t *testing.T, s Stores, id string, want bool) {
	t.Helper()
	got, err := s.Orgs.APIEnabled(context.Background(), id)
	if err != nil || got != want {
		t.Errorf("APIEnabled(%q) = %v, %v; want %v, nil", id, got, err, want)
	}
}

func checkOrg(t *testing.T, what string, got, want auth.Org) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.APIEnabled != want.APIEnabled ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testOrgDefaults(t *testing.T, s Stores) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	o, err := s.Orgs.CreateOrg(ctx, auth.Org{Name: "Generated"})
	if err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if !uuid.Valid(o.ID) {
		t.Errorf("generated organization id %q is not a UUID", o.ID)
	}
	if o.CreatedAt.Before(before) || o.CreatedAt.After(time.Now().Add(time.Minute)) || !o.UpdatedAt.Equal(o.CreatedAt) {
		t.Errorf("default times CreatedAt=%v UpdatedAt=%v, want now and equal", o.CreatedAt, o.UpdatedAt)
	}
	if o.APIEnabled {
		t.Error("a new organization has the API enabled")
	}
	got, err := s.Orgs.GetOrg(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkOrg(t, "GetOrg of a generated organization", got, o)

	// APIEnabled given at creation is kept.
	on, err := s.Orgs.CreateOrg(ctx, auth.Org{Name: "On", APIEnabled: true, CreatedAt: base})
	if err != nil {
		t.Fatal(err)
	}
	checkEnabled(t, s, on.ID, true)
	if !on.UpdatedAt.Equal(base) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", on.UpdatedAt, base)
	}
}

func testOrgConflict(t *testing.T, s Stores) {
	ctx := context.Background()
	id := uuid.New()
	if _, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: id, Name: "First", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Orgs.CreateOrg(ctx, auth.Org{ID: id, Name: "Second", APIEnabled: true, CreatedAt: base})
	checkErr(t, "CreateOrg with an existing id", err, auth.ErrConflict)
	got, err := s.Orgs.GetOrg(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	checkOrg(t, "organization after a conflicting create", got, auth.Org{ID: id, Name: "First", CreatedAt: base, UpdatedAt: base})
}

func testCopies(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	k := newKey(t, org, base)
	exp := base.Add(time.Hour)
	k.ExpiresAt = &exp
	create(t, s, k)
	want := k
	want.ExpiresAt = ptr(exp)

	// Changing the caller's value after CreateKey changes nothing stored.
	exp = exp.Add(1000 * time.Hour)
	k.Name = "changed"

	got, err := s.Keys.GetKey(ctx, org, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "after changing the created value", got, want)

	// Nor does changing returned values.
	*got.ExpiresAt = base.Add(5000 * time.Hour)
	got.Name = "changed"
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListKeys = %d keys, %v", len(list), err)
	}
	*list[0].ExpiresAt = base.Add(6000 * time.Hour)
	lk, err := s.Keys.LookupKey(ctx, k.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	*lk.ExpiresAt = base.Add(7000 * time.Hour)
	upd, err := s.Keys.UpdateKey(ctx, org, k.ID, auth.KeyUpdate{RateLimitPerMinute: ptr(9)}, base)
	if err != nil {
		t.Fatal(err)
	}
	*upd.ExpiresAt = base.Add(8000 * time.Hour)
	want.RateLimitPerMinute, want.UpdatedAt = 9, base

	// Nor the update's own pointers.
	newExp := base.Add(2 * time.Hour)
	u := auth.KeyUpdate{SetExpiresAt: true, ExpiresAt: &newExp}
	if _, err := s.Keys.UpdateKey(ctx, org, k.ID, u, base); err != nil {
		t.Fatal(err)
	}
	want.ExpiresAt = ptr(newExp)
	newExp = newExp.Add(9000 * time.Hour)

	got, err = s.Keys.GetKey(ctx, org, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "after changing returned values", got, want)

	o, err := s.Orgs.CreateOrg(ctx, auth.Org{Name: "Copy", CreatedAt: base})
	if err != nil {
		t.Fatal(err)
	}
	o.APIEnabled = true
	o.Name = "changed"
	checkEnabled(t, s, o.ID, false)
	got2, err := s.Orgs.GetOrg(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Name != "Copy" {
		t.Errorf("organization name = %q after changing the returned value, want %q", got2.Name, "Copy")
	}
}

func testConcurrent(t *testing.T, s Stores) {
	ctx := context.Background()
	org := uuid.New()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	keys := make([]auth.Key, n)
	for i := range keys {
		keys[i] = newKey(t, org, base.Add(time.Duration(i)*time.Second))
	}
	for i := range n {
		wg.Go(func() {
			k := keys[i]
			if err := s.Keys.CreateKey(ctx, k); err != nil {
				errs <- fmt.Errorf("CreateKey: %w", err)
				return
			}
			if _, err := s.Keys.LookupKey(ctx, k.PublicID); err != nil {
				errs <- fmt.Errorf("LookupKey: %w", err)
			}
			if _, err := s.Keys.ListKeys(ctx, org); err != nil {
				errs <- fmt.Errorf("ListKeys: %w", err)
			}
			if err := s.Keys.TouchKeys(ctx, []string{k.ID}, base.Add(time.Hour)); err != nil {
				errs <- fmt.Errorf("TouchKeys: %w", err)
			}
			if _, err := s.Keys.UpdateKey(ctx, org, k.ID, auth.KeyUpdate{Name: ptr("c")}, base.Add(time.Hour)); err != nil {
				errs <- fmt.Errorf("UpdateKey: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.Keys.ListKeys(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("ListKeys after %d concurrent creates = %d keys", n, len(list))
	}
}

func testCanceled(t *testing.T, s Stores) {
	org := uuid.New()
	k := create(t, s, newKey(t, org, base))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Keys.LookupKey(ctx, k.PublicID); err == nil || errors.Is(err, auth.ErrNotFound) {
		t.Errorf("LookupKey with a canceled context: err = %v, want a context error", err)
	}
	if _, err := s.Orgs.APIEnabled(ctx, org); err == nil {
		t.Error("APIEnabled with a canceled context: err = nil")
	}
}

// testListPublicIDs: a store that lists public ids (auth.PublicIDLister)
// lists every key's, revoked ones included. Stores that do not are skipped.
func testListPublicIDs(t *testing.T, s Stores) {
	l, ok := s.Keys.(auth.PublicIDLister)
	if !ok {
		t.Skip("the key store does not implement auth.PublicIDLister")
	}
	ctx := context.Background()
	org := uuid.New()
	want := map[string]bool{}
	for i := range 3 {
		k := create(t, s, newKey(t, org, base.Add(time.Duration(i)*time.Second)))
		want[k.PublicID] = false
		if i == 0 {
			if _, err := s.Keys.RevokeKey(ctx, org, k.ID, base); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.ListPublicIDs(ctx, func(id string) {
		if _, ok := want[id]; ok {
			want[id] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	for id, seen := range want {
		if !seen {
			t.Errorf("ListPublicIDs did not list %s", id)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.ListPublicIDs(cctx, func(string) {}); err == nil {
		t.Error("ListPublicIDs with a cancelled context: no error")
	}
}
