package auth

import "context"

var _ PublicIDLister = (*Memory)(nil)

// ListPublicIDs calls fn with the public id of every stored key
// ([PublicIDLister]). fn must not call back into m.
func (m *Memory) ListPublicIDs(ctx context.Context, fn func(publicID string)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for id := range m.byPublic {
		fn(id)
	}
	return nil
}
