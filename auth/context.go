package auth

import "context"

type keyCtx struct{}

// NewContext returns ctx carrying the authenticated key. The middleware
// calls it after a successful authentication; handlers read the key back
// with [FromContext].
func NewContext(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, keyCtx{}, &k)
}

// FromContext returns the key put in ctx by [NewContext].
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(*Key)
	if !ok || k == nil {
		return Key{}, false
	}
	return *k, true
}
