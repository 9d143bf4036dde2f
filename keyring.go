package gatehouse

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of every [Keyring] secret: 32 bytes.
const KeySize = 32

// Secret is one named secret of a [Keyring]. Its String and GoString never
// show the bytes.
type Secret struct {
	// ID names the secret (1–32 characters of [A-Za-z0-9_-]); it travels
	// with what the secret protects, so old secrets keep verifying.
	ID string
	// Key is the 32-byte secret.
	Key []byte
}

// String redacts the key.
func (s Secret) String() string { return "gatehouse.Secret{ID:" + s.ID + ", Key:[redacted]}" }

// GoString redacts the key.
func (s Secret) GoString() string { return s.String() }

// Keyring holds the server secrets shared by all pods: the first is current
// (it signs and encrypts), the others still verify and decrypt, so secrets
// rotate without breaking cursors or stored ciphertexts in flight. All
// methods are safe for concurrent use; a Keyring is immutable.
type Keyring struct {
	secrets []Secret
	aeads   []cipher.AEAD
}

// NewKeyring returns a keyring of the secrets, the first being current.
func NewKeyring(secrets ...Secret) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("gatehouse: keyring: at least one secret is required")
	}
	k := &Keyring{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if !validSecretID(s.ID) {
			return nil, fmt.Errorf("gatehouse: keyring: invalid secret id %q", s.ID)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("gatehouse: keyring: duplicate secret id %q", s.ID)
		}
		seen[s.ID] = true
		if len(s.Key) != KeySize {
			return nil, fmt.Errorf("gatehouse: keyring: secret %q has %d bytes, want %d", s.ID, len(s.Key), KeySize)
		}
		block, err := aes.NewCipher(s.Key)
		if err != nil {
			return nil, fmt.Errorf("gatehouse: keyring: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("gatehouse: keyring: %w", err)
		}
		k.secrets = append(k.secrets, Secret{ID: s.ID, Key: append([]byte(nil), s.Key...)})
		k.aeads = append(k.aeads, aead)
	}
	return k, nil
}

// ParseKeyring parses "id1:base64key1,id2:base64key2" (standard or URL
// base64, padded or not), the format of GATEHOUSE_SECRET_KEYS.
func ParseKeyring(s string) (*Keyring, error) {
	var secrets []Secret
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("gatehouse: keyring: want id:base64key entries separated by commas")
		}
		key, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("gatehouse: keyring: secret %q: invalid base64", id)
		}
		secrets = append(secrets, Secret{ID: id, Key: key})
	}
	return NewKeyring(secrets...)
}

// GenerateSecret returns a fresh random secret with the id.
func GenerateSecret(id string) Secret {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	return Secret{ID: id, Key: key}
}

// Format returns the keyring in the [ParseKeyring] format. It holds the
// secrets: store it like a password.
func (k *Keyring) Format() string {
	parts := make([]string, len(k.secrets))
	for i, s := range k.secrets {
		parts[i] = s.ID + ":" + base64.RawURLEncoding.EncodeToString(s.Key)
	}
	return strings.Join(parts, ",")
}

// String redacts the secrets.
func (k *Keyring) String() string {
	ids := make([]string, len(k.secrets))
	for i, s := range k.secrets {
		ids[i] = s.ID
	}
	return "gatehouse.Keyring{" + strings.Join(ids, ",") + "}"
}

// CurrentID returns the id of the current secret.
func (k *Keyring) CurrentID() string { return k.secrets[0].ID }

func (k *Keyring) index(id string) int {
	for i, s := range k.secrets {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// MAC returns the id of the current secret and the HMAC-SHA256 under it of
// purpose and the parts, each length-prefixed so that no two different
// inputs share a MAC input.
func (k *Keyring) MAC(purpose string, parts ...[]byte) (id string, sum []byte) {
	return k.secrets[0].ID, mac(k.secrets[0].Key, purpose, parts)
}

// VerifyMAC reports, in constant time, whether sum is the MAC of purpose and
// parts under the secret id (current or older).
func (k *Keyring) VerifyMAC(id string, sum []byte, purpose string, parts ...[]byte) bool {
	i := k.index(id)
	if i < 0 {
		return false
	}
	return hmac.Equal(sum, mac(k.secrets[i].Key, purpose, parts))
}

func mac(key []byte, purpose string, parts [][]byte) []byte {
	h := hmac.New(sha256.New, key)
	var n [8]byte
	write := func(b []byte) {
		l := uint64(len(b))
		for i := range n {
			n[i] = byte(l >> (56 - 8*i))
		}
		h.Write(n[:])
		h.Write(b)
	}
	write([]byte(purpose))
	for _, p := range parts {
		write(p)
	}
	return h.Sum(nil)
}

// Seal encrypts plaintext with AES-256-GCM under the current secret,
// authenticating aad too (bind the ciphertext to its row, e.g. the record
// id). The result is "<secret id>.<base64url(nonce|ciphertext)>".
func (k *Keyring) Seal(plaintext, aad []byte) string {
	aead := k.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	out := aead.Seal(nonce, nonce, plaintext, aad)
	return k.secrets[0].ID + "." + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts what [Keyring.Seal] produced, under whichever secret it
// names. It fails if the secret is unknown, the text was altered or aad
// differs.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, b64, ok := strings.Cut(sealed, ".")
	if !ok {
		return nil, errors.New("gatehouse: keyring: malformed ciphertext")
	}
	i := k.index(id)
	if i < 0 {
		return nil, fmt.Errorf("gatehouse: keyring: unknown secret id %q", id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	aead := k.aeads[i]
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("gatehouse: keyring: malformed ciphertext")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("gatehouse: keyring: ciphertext does not authenticate")
	}
	return pt, nil
}

func validSecretID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
