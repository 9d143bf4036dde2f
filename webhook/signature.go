package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names, written in lower case as the
// specification shows them (HTTP header names are case-insensitive).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// secretBytes is the number of random bytes of a generated secret: 24, the
// size the Standard Webhooks libraries generate (base64 without padding).
const secretBytes = 24

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock for [Verify]: 5 minutes.
const DefaultTolerance = 5 * time.Minute

// Errors of [Verify] and [Sign]. Compare with errors.Is.
var (
	// ErrInvalidSecret: the secret is not "whsec_" followed by base64.
	ErrInvalidSecret = errors.New("webhook: invalid signing secret")
	// ErrMissingHeaders: webhook-id, webhook-timestamp or
	// webhook-signature is missing.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrInvalidTimestamp: webhook-timestamp is not Unix seconds.
	ErrInvalidTimestamp = errors.New("webhook: invalid webhook-timestamp")
	// ErrTimestampOutOfRange: webhook-timestamp is more than 5 minutes
	// away from the receiver's clock (a replay, or a skewed clock).
	ErrTimestampOutOfRange = errors.New("webhook: webhook-timestamp too old or too new")
	// ErrNoMatchingSignature: no v1 signature of the header matches.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
)

// Secret is a signing secret ("whsec_…"). Its String, GoString and
// MarshalJSON redact it; [Secret.Reveal] returns it, for the one response
// that shows it.
type Secret struct{ s string }

// Reveal returns the secret.
func (s Secret) Reveal() string { return s.s }

// String redacts the secret.
func (s Secret) String() string {
	if s.s == "" {
		return ""
	}
	return SecretPrefix + "[redacted]"
}

// GoString redacts the secret.
func (s Secret) GoString() string { return "webhook.Secret{" + s.String() + "}" }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// newSecret returns a fresh secret: "whsec_" and the standard base64 of 24
// random bytes.
func newSecret() Secret {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b)
	return Secret{s: SecretPrefix + base64.StdEncoding.EncodeToString(b)}
}

// secretKey returns the HMAC key of a secret: the base64-decoded part after
// "whsec_" (the prefix is optional, as in the Standard Webhooks libraries).
func secretKey(secret string) ([]byte, error) {
	b64 := strings.TrimPrefix(secret, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under key.
func sign(key []byte, id string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	var buf [20]byte
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(buf[:0], ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Sign returns the webhook-signature value "v1,<base64 signature>" of the
// message id, timestamp and body under secret, as the dispatcher sends it.
// Receivers use [Verify]; Sign is for tests and for services that relay
// messages.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, id, timestamp.Unix(), body), nil
}

// Verify checks a webhook the way the Standard Webhooks specification
// says: the webhook-timestamp header must be within 5 minutes of now, and
// one of the space-separated "v1,<signature>" entries of webhook-signature
// must equal the base64 HMAC-SHA256, under the secret's key bytes (the
// base64-decoded part after "whsec_"), of "<webhook-id>.<webhook-timestamp>.<body>".
// Signatures are compared in constant time. During a secret rotation the
// header carries a signature under each secret, and either verifies.
//
// Verify the raw body before parsing it, and de-duplicate on webhook-id (the
// event id): delivery is at least once. A receiver in Go:
//
//	http.HandleFunc("POST /hooks", func(w http.ResponseWriter, r *http.Request) {
//		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//		if err != nil || webhook.Verify(secret, r.Header, body, time.Now()) != nil {
//			http.Error(w, "invalid signature", http.StatusBadRequest)
//			return
//		}
//		var ev struct{ ID, Type string; Data json.RawMessage }
//		_ = json.Unmarshal(body, &ev) // handle ev.Type; skip an ev.ID seen before
//		w.WriteHeader(http.StatusNoContent)
//	})
func Verify(secret string, header http.Header, body []byte, now time.Time) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > DefaultTolerance || d < -DefaultTolerance {
		return ErrTimestampOutOfRange
	}
	want := []byte(sign(key, id, ts, body))
	for entry := range strings.FieldsSeq(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}
