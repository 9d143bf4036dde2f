package auth_test

import (
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
)

// TestDisabledMessage (issue 14 item 5): the 403 of an organization whose
// API is off says the service's own words when Options.DisabledMessage is
// set, and the neutral gatehouse.MsgModuleDisabled otherwise.
func TestDisabledMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct{ opt, want string }{
		{"", "API access is not enabled for this organization"},
		{"Developer API is not enabled for this organization", "Developer API is not enabled for this organization"},
	} {
		m := newMiddleware(t, auth.Options{Store: f.store, Orgs: f.store, DisabledMessage: tc.opt, Now: func() time.Time { return f.now }})
		h := gatehouse.RequestID(m.Wrap(okHandler))
		res := serve(t, h, [][2]string{{"Authorization", "Bearer " + f.raw["disabled"]}})
		if res.status != 403 || res.body["error"] != tc.want {
			t.Errorf("DisabledMessage %q: %d %s", tc.opt, res.status, res.raw)
		}
	}
	if gatehouse.MsgModuleDisabled != "API access is not enabled for this organization" {
		t.Errorf("MsgModuleDisabled = %q", gatehouse.MsgModuleDisabled)
	}
}
