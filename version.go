package gatehouse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Defaults of [VersionOptions].
const (
	DefaultVersionHeader = "API-Version"
	DefaultVersion       = "v1"
)

// VersionOptions configures [NewVersioner].
type VersionOptions struct {
	// Header is the request and response header that carries the API
	// version, e.g. "Joby-Version": default "API-Version".
	Header string
	// Current is the version served to requests that do not pin one:
	// default "v1".
	Current string
	// Supported lists the versions a request may pin. Nil means Current
	// only; otherwise it must contain Current.
	Supported []string
}

// Versioner is the API version middleware: every response carries the
// version that served it, and a request may pin one. Create it with
// [NewVersioner]; it is immutable and safe for concurrent use.
type Versioner struct {
	header    string
	current   string
	supported []string
	boxed     []any // supported[i] as an interface value, made once
	bad       *Error
}

// NewVersioner validates opts and returns the middleware. The header must be
// an HTTP token and versions 1–64 characters of letters, digits, '.', '-'
// and '_', unique regardless of case.
func NewVersioner(opts VersionOptions) (*Versioner, error) {
	v := &Versioner{header: opts.Header, current: opts.Current, supported: slices.Clone(opts.Supported)}
	if v.header == "" {
		v.header = DefaultVersionHeader
	}
	if !validToken(v.header) {
		return nil, fmt.Errorf("gatehouse: VersionOptions.Header %q is not a valid header name", v.header)
	}
	v.header = textproto.CanonicalMIMEHeaderKey(v.header)
	if v.current == "" {
		v.current = DefaultVersion
	}
	if v.supported == nil {
		v.supported = []string{v.current}
	}
	for i, s := range v.supported {
		if !validVersion(s) {
			return nil, fmt.Errorf("gatehouse: invalid API version %q", s)
		}
		for _, o := range v.supported[:i] {
			if strings.EqualFold(o, s) {
				return nil, fmt.Errorf("gatehouse: API version %q listed twice", s)
			}
		}
	}
	if !slices.Contains(v.supported, v.current) {
		return nil, errors.New("gatehouse: VersionOptions.Supported must contain Current")
	}
	v.bad = NewError(http.StatusBadRequest, MsgUnsupportedVersion).With("supported", slices.Clone(v.supported))
	v.boxed = make([]any, len(v.supported))
	for i, s := range v.supported {
		v.boxed[i] = s
	}
	return v, nil
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

func validVersion(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Header returns the header name, canonicalized.
func (v *Versioner) Header() string { return v.header }

// Current returns the version served when a request pins none.
func (v *Versioner) Current() string { return v.current }

// Supported returns the versions a request may pin.
func (v *Versioner) Supported() []string { return slices.Clone(v.supported) }

// Resolve returns the version a request with header values vals asks for:
// Current when there is none (or only empty ones), else the supported
// version they all name (compared without regard to case, returned as
// configured). ok is false when a value is not supported or two values
// differ.
func (v *Versioner) Resolve(vals []string) (version string, ok bool) {
	i := v.resolve(vals)
	if i < 0 {
		return "", false
	}
	return v.supported[i], true
}

// resolve is [Versioner.Resolve] answering the index of the version in
// v.supported, or -1.
func (v *Versioner) resolve(vals []string) int {
	found := -1
	for _, raw := range vals {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		i := slices.IndexFunc(v.supported, func(o string) bool { return strings.EqualFold(o, s) })
		if i < 0 || found >= 0 && found != i {
			return -1
		}
		found = i
	}
	if found < 0 {
		return slices.Index(v.supported, v.current)
	}
	return found
}

// Wrap returns next behind the version check. It sets the header to the
// served version (and adds it to Vary) before next runs, so that every
// response, errors of later middlewares included, carries it. A request
// whose header names an unsupported version, or two different versions, is
// answered 400 "Unsupported API version" with "supported" listing the
// supported versions (and the header set to Current). next finds the served
// version with [VersionFromContext]. Place it right after [RequestID].
func (v *Versioner) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Directly inside RequestID (the request's context is its state),
		// the version and the header values go into the state: no
		// context, request copy or header slice of their own.
		st, inState := r.Context().(*requestState)
		if _, vary := h["Vary"]; inState && !vary && st.hdr[1] == "" {
			st.hdr[1] = v.header
			h["Vary"] = st.hdr[1:2:2]
		} else {
			h.Add("Vary", v.header)
		}
		i := v.resolve(r.Header.Values(v.header))
		if i < 0 {
			h.Set(v.header, v.current)
			WriteError(w, r, nil, v.bad)
			return
		}
		if inState && st.hdr[2] == "" {
			st.hdr[2] = v.supported[i]
			h[v.header] = st.hdr[2:3:3]
			st.mu.Lock()
			st.version = v.boxed[i]
			st.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		h.Set(v.header, v.supported[i])
		next.ServeHTTP(w, r.WithContext(NewVersionContext(r.Context(), v.supported[i])))
	})
}

type versionKey struct{}

// NewVersionContext returns ctx carrying the served API version; the
// [Versioner] calls it.
func NewVersionContext(ctx context.Context, version string) context.Context {
	return context.WithValue(ctx, versionKey{}, version)
}

// VersionFromContext returns the API version serving the request, as set by
// [Versioner.Wrap].
func VersionFromContext(ctx context.Context) (string, bool) {
	v, ok := ctx.Value(versionKey{}).(string)
	return v, ok && v != ""
}
