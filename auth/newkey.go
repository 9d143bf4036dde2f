package auth

import "gatehouse.dev/internal/uuid"

// NewKey generates a fresh key and the record to store for it. The record is
// tmpl with Env, PublicID, Hash and DisplayPrefix filled in from the new key
// and ID set to a new UUID when empty. The raw key is returned once: show it
// to its owner and never store or log it (RawKey redacts itself).
func NewKey(prefix, env string, tmpl Key) (RawKey, Key, error) {
	raw, p, err := Generate(prefix, env)
	if err != nil {
		return "", Key{}, err
	}
	k := tmpl
	if k.ID == "" {
		k.ID = uuid.New()
	}
	k.Env = p.Env
	k.PublicID = p.PublicID
	k.Hash = Hash(raw.Reveal())
	k.DisplayPrefix = p.DisplayPrefix()
	return raw, k, nil
}
