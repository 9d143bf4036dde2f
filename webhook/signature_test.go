package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/webhook"
)

// The example of the Standard Webhooks specification
// (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md
// and the libraries' test vectors).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vecHeader(sig string, ts int64) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, vecID)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestSignStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	got, err := webhook.Sign(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
	// The prefix is optional, as in the reference libraries.
	got, err = webhook.Sign(strings.TrimPrefix(vecSecret, "whsec_"), vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil || got != vecSig {
		t.Fatalf("Sign without prefix = %s, %v", got, err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(vecTS, 0)
	other := "whsec_" + strings.Repeat("A", 32)
	otherSig, _ := webhook.Sign(other, vecID, now, []byte(vecBody))
	cases := []struct {
		name   string
		secret string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"vector", vecSecret, vecHeader(vecSig, vecTS), vecBody, now, nil},
		{"vector 4m59s later", vecSecret, vecHeader(vecSig, vecTS), vecBody, now.Add(299 * time.Second), nil},
		{"vector 5m early", vecSecret, vecHeader(vecSig, vecTS), vecBody, now.Add(-5 * time.Minute), nil},
		{"rotation: two signatures, old one first", vecSecret, vecHeader(otherSig+" "+vecSig, vecTS), vecBody, now, nil},
		{"unknown versions ignored", vecSecret, vecHeader("v2,xyz "+vecSig, vecTS), vecBody, now, nil},
		{"tampered body", vecSecret, vecHeader(vecSig, vecTS), `{"test": 2432232315}`, now, webhook.ErrNoMatchingSignature},
		{"body with extra space", vecSecret, vecHeader(vecSig, vecTS), vecBody + " ", now, webhook.ErrNoMatchingSignature},
		{"wrong secret", other, vecHeader(vecSig, vecTS), vecBody, now, webhook.ErrNoMatchingSignature},
		{"tampered id", vecSecret, func() http.Header { h := vecHeader(vecSig, vecTS); h.Set(webhook.HeaderID, "msg_x"); return h }(), vecBody, now, webhook.ErrNoMatchingSignature},
		{"changed timestamp", vecSecret, vecHeader(vecSig, vecTS+1), vecBody, now, webhook.ErrNoMatchingSignature},
		{"stale timestamp", vecSecret, vecHeader(vecSig, vecTS), vecBody, now.Add(5*time.Minute + time.Second), webhook.ErrTimestampOutOfRange},
		{"future timestamp", vecSecret, vecHeader(vecSig, vecTS), vecBody, now.Add(-5*time.Minute - time.Second), webhook.ErrTimestampOutOfRange},
		{"timestamp not a number", vecSecret, vecHeader(vecSig, 0), vecBody, now, webhook.ErrInvalidTimestamp},
		{"missing signature", vecSecret, vecHeader("", vecTS), vecBody, now, webhook.ErrMissingHeaders},
		{"missing id", vecSecret, func() http.Header { h := vecHeader(vecSig, vecTS); h.Del(webhook.HeaderID); return h }(), vecBody, now, webhook.ErrMissingHeaders},
		{"signature without version", vecSecret, vecHeader(strings.TrimPrefix(vecSig, "v1,"), vecTS), vecBody, now, webhook.ErrNoMatchingSignature},
		{"v1 with empty signature", vecSecret, vecHeader("v1,", vecTS), vecBody, now, webhook.ErrNoMatchingSignature},
		{"invalid secret", "whsec_not base64!", vecHeader(vecSig, vecTS), vecBody, now, webhook.ErrInvalidSecret},
		{"empty secret", "", vecHeader(vecSig, vecTS), vecBody, now, webhook.ErrInvalidSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if tc.name == "timestamp not a number" {
				h.Set(webhook.HeaderTimestamp, "16142653e0")
			}
			err := webhook.Verify(tc.secret, h, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	t.Parallel()
	var s webhook.Secret
	if s.String() != "" {
		t.Fatalf("zero secret prints %q", s.String())
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(vecSecret, vecID, strconv.Itoa(vecTS), vecSig, vecBody)
	f.Add(vecSecret, vecID, strconv.Itoa(vecTS), "v1, v1,,, v2,a", "")
	f.Add("whsec_", "", "-1", "v1,=", "{}")
	f.Add("whsec_====", "x", "99999999999999999999", " ", "\x00")
	f.Fuzz(func(t *testing.T, secret, id, ts, sig, body string) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		err := webhook.Verify(secret, h, []byte(body), time.Unix(vecTS, 0))
		if err == nil {
			// Only a correct signature verifies.
			want, serr := webhook.Sign(secret, id, time.Unix(mustInt(t, ts), 0), []byte(body))
			if serr != nil || !strings.Contains(sig, want) {
				t.Fatalf("Verify accepted %q for %q", sig, want)
			}
		}
	})
}

func mustInt(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("verified with timestamp %q: %v", s, err)
	}
	return n
}

func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":"3f1c","first_name":"Ann"}`, 20))
	ts := time.Unix(vecTS, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.Sign(vecSecret, vecID, ts, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":"3f1c","first_name":"Ann"}`, 20))
	ts := time.Unix(vecTS, 0)
	sig, _ := webhook.Sign(vecSecret, vecID, ts, body)
	h := vecHeader(sig, vecTS)
	b.ReportAllocs()
	for b.Loop() {
		if err := webhook.Verify(vecSecret, h, body, ts); err != nil {
			b.Fatal(err)
		}
	}
}
